import { equal, rejects } from "node:assert/strict";
import { join } from "node:path";
import { controlBody } from "./client.ts";
import { startControlServer } from "./server.ts";

/** All the bytes `controlBody` yields, as text, and how many pieces they came in. */
async function read(socket: string, path: string): Promise<{ text: string; pieces: number }> {
  const decoder = new TextDecoder();
  let text = "", pieces = 0;
  for await (const bytes of controlBody(socket, path, "or try again")) {
    text += decoder.decode(bytes, { stream: true });
    pieces++;
  }
  return { text: text + decoder.decode(), pieces };
}

Deno.test("controlBody: a real control server's body whole, also across many reads; its errors as one line", async () => {
  const dir = await Deno.makeTempDir();
  const socket = join(dir, "control.sock");
  // 5 MiB of varied lines, so that the body takes many reads and a lost or doubled piece shows.
  const big = Array.from({ length: 60_000 }, (_, index) => `line ${index} ${"é".repeat(index % 70)}\n`).join("");
  const server = await startControlServer(socket, {
    "/big": () => new Response(big),
    "/empty": () => new Response(""),
    "/fails": () => new Response("the device is gone\n", { status: 503 }),
  });
  try {
    const { text, pieces } = await read(socket, "/big?format=json");
    equal(text, big);
    equal(pieces > 1, true, `${pieces} piece(s)`);
    equal((await read(socket, "/empty")).text, "");
    await rejects(read(socket, "/fails"), new RegExp(`^Error: daemon at ${socket} answered 503: the device is gone$`));
    await rejects(read(socket, "/nowhere"), /answered 404: no such path \/nowhere/);
  } finally {
    await server.close();
  }
  await rejects(
    read(socket, "/big"),
    new RegExp(`cannot reach the daemon at ${socket} \\(no such socket\\): is serve running\\?.*or try again$`),
  );
  await Deno.remove(dir, { recursive: true });
});

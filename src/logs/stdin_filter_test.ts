import { deepEqual, equal } from "node:assert/strict";
import { lineRenderer } from "./format.ts";
import type { LineFilter } from "./filter.ts";
import { LINES, STDIN_TEXT, UUID_A, UUID_B } from "./sample_lines.ts";
import { filterStream, MAX_LINE_BYTES, readChunks } from "./stdin_filter.ts";

/** `text` as chunks of `size` bytes, so lines and characters are split across reads. */
function* chunksOf(text: string, size: number): Generator<Uint8Array> {
  const bytes = new TextEncoder().encode(text);
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

async function run(text: string, filter: LineFilter, options: { size?: number; tail?: number } = {}) {
  const writes: string[] = [];
  const result = await filterStream(
    readChunks(ReadableStream.from(chunksOf(text, options.size ?? 1 << 20))),
    (text) => {
      writes.push(text);
      return Promise.resolve();
    },
    { filter, render: lineRenderer("json", false), tail: options.tail },
  );
  return { output: writes.join(""), writes: writes.length, shown: result.shown };
}

const { aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape } = LINES;

Deno.test("every documented line passes an empty filter; malformed lines are skipped", async () => {
  const { output, shown } = await run(STDIN_TEXT, {});
  equal(output, [aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape].join("\n") + "\n");
  equal(shown, 6);
});

Deno.test("the same output whatever the chunk size, with and without the UUID search", async () => {
  const all = await run(STDIN_TEXT, {});
  const a = await run(STDIN_TEXT, { uuids: [UUID_A] });
  equal(a.output, [aLinkUp, aMulti, aEscape].join("\n") + "\n");
  for (const size of [1, 2, 7, 64, 333]) {
    equal((await run(STDIN_TEXT, {}, { size })).output, all.output, `size ${size}`);
    equal((await run(STDIN_TEXT, { uuids: [UUID_A] }, { size })).output, a.output, `size ${size}`);
  }
});

Deno.test("several UUIDs keep the input order", async () => {
  const { output } = await run(STDIN_TEXT, { uuids: [UUID_B, UUID_A] });
  equal(output, [aLinkUp, bDisk, aMulti, bOk, aEscape].join("\n") + "\n");
});

Deno.test("a UUID written inside another machine's message is no match; a malformed candidate is skipped", async () => {
  const decoy = JSON.stringify({ msg: `"server_uuid":"${UUID_A}"`, server_uuid: UUID_B });
  const broken = `{"server_uuid":"${UUID_A}",`;
  const { output } = await run([decoy, broken, aLinkUp].join("\n"), { uuids: [UUID_A] });
  equal(output, `${aLinkUp}\n`);
});

Deno.test("characters split across reads are joined; the last line needs no newline", async () => {
  const line = JSON.stringify({ msg: "naïve – ✓ 😀", server_uuid: UUID_A });
  for (const size of [1, 3, 5]) {
    equal((await run(`${line}\n${line}`, { uuids: [UUID_A] }, { size })).output, `${line}\n${line}\n`);
  }
});

Deno.test("an overlong line is skipped and the lines after it are kept", async () => {
  const huge = JSON.stringify({ msg: "x".repeat(MAX_LINE_BYTES + 10), server_uuid: UUID_A });
  const { output } = await run([aLinkUp, huge, aMulti].join("\n"), {}, { size: 64 * 1024 });
  equal(output, `${aLinkUp}\n${aMulti}\n`);
});

Deno.test("tail keeps the last N matching lines, written once at the end", async () => {
  deepEqual(await run(STDIN_TEXT, {}, { tail: 2, size: 10 }), { output: `${bOk}\n${aEscape}\n`, writes: 1, shown: 2 });
  equal(
    (await run(STDIN_TEXT, { uuids: [UUID_A] }, { tail: 10 })).output,
    [aLinkUp, aMulti, aEscape].join("\n") + "\n",
  );
  deepEqual(await run(STDIN_TEXT, {}, { tail: 0 }), { output: "", writes: 0, shown: 0 });
});

Deno.test("output is written per chunk read, so a live pipe is followed", async () => {
  const { writes } = await run(STDIN_TEXT, {}, { size: 100 });
  equal(writes > 3, true);
});

Deno.test("a synchronous reader of a file gives the same lines", async () => {
  const path = await Deno.makeTempFile();
  await Deno.writeTextFile(path, STDIN_TEXT.repeat(2000));
  using file = Deno.openSync(path);
  const writes: string[] = [];
  const { shown } = await filterStream((into) => file.readSync(into), (text) => {
    writes.push(text);
    return Promise.resolve();
  }, { filter: { uuids: [UUID_B] }, render: lineRenderer("json", false) });
  equal(shown, 4000);
  equal(writes.join(""), `${bDisk}\n${bOk}\n`.repeat(2000));
  await Deno.remove(path);
});

Deno.test("lines longer than the limit are skipped, up to the limit kept", async () => {
  const longest = JSON.stringify({ server_uuid: UUID_A, msg: "" });
  const fits = JSON.stringify({ server_uuid: UUID_A, msg: "y".repeat(MAX_LINE_BYTES - longest.length) });
  equal(new TextEncoder().encode(fits).length, MAX_LINE_BYTES);
  for (const filter of [{}, { uuids: [UUID_A] }]) {
    const { output } = await run([fits, aLinkUp].join("\n"), filter, { size: 100_000 });
    equal(output, `${fits}\n${aLinkUp}\n`);
  }
});

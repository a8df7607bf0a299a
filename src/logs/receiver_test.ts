import assert from "node:assert/strict";
import type { MachineIdentity } from "../machines/identity.ts";
import { eachLine, type LogEntry, LogReceiver } from "./receiver.ts";

/** An entry with a copy of its line. */
type Entry = LogEntry & { bytes: Uint8Array };

const LOOPBACK = "::ffff:127.0.0.1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function record(seq: number): string {
  const clock = 1_000_000 + seq;
  const time = new Date(Date.UTC(2026, 2, 2, 8, 0, 1) + seq / 1000).toISOString();
  return `{"clock":${clock},"facility":"kern","msg":"m${seq}\\n","priority":"info","seq":${seq},"talos-level":"info","talos-time":"${time}"}\n`;
}

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

Deno.test("a long-lived connection follows identity changes, and is closed when its machine goes away", async () => {
  let identity: MachineIdentity | undefined = { serverUuid: "u-1", cluster: "old" };
  const entries: Entry[] = [];
  await using receiver = await LogReceiver.listen({
    hostname: "127.0.0.1",
    port: 0,
    identify: (address) => address === LOOPBACK ? identity : undefined,
    sink: eachLine((entry, bytes) => entries.push({ ...entry, bytes: bytes.slice() })), // the bytes are the receiver's
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: receiver.port });
  await conn.write(encoder.encode(record(1)));
  await waitFor(() => entries.length === 1, "the first record");
  identity = { serverUuid: "u-1", cluster: "new", machine: "m" };
  await conn.write(encoder.encode(record(2)));
  await waitFor(() => entries.length === 2, "the second record");
  assert.deepEqual(entries.map((entry) => JSON.parse(decoder.decode(entry.bytes)).cluster), ["old", "new"]);
  assert.equal(JSON.parse(decoder.decode(entries[1].bytes)).machine, "m");
  assert.equal(entries[1].boot, entries[0].boot);

  identity = undefined;
  await conn.write(encoder.encode(record(3)));
  assert.equal(await conn.read(new Uint8Array(1)), null, "the server closed the connection");
  conn.close();
  assert.equal(entries.length, 2);
  await waitFor(() => receiver.counters.open === 0, "the handler to end");
  assert.equal(receiver.counters.refused, 1);
});

Deno.test("close() stops accepting and ends open connections, handing on what was read", async () => {
  const entries: Entry[] = [];
  const receiver = await LogReceiver.listen({
    hostname: "127.0.0.1",
    port: 0,
    identify: () => ({ serverUuid: "u-1" }),
    sink: eachLine((entry, bytes) => entries.push({ ...entry, bytes: bytes.slice() })), // the bytes are the receiver's
  });
  const port = receiver.port;
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const partial = await Deno.connect({ hostname: "127.0.0.1", port });
  await partial.write(encoder.encode(record(1) + record(2).slice(0, -1))); // the last one has no "\n" yet
  await waitFor(() => entries.length === 1 && receiver.counters.open === 2, "the first record");
  await receiver.close();
  assert.deepEqual(entries.map((entry) => entry.seq), [1, 2]);
  assert.equal(receiver.counters.open, 0);
  for (const conn of [idle, partial]) {
    assert.equal(await conn.read(new Uint8Array(1)), null);
    conn.close();
  }
  await assert.rejects(Deno.connect({ hostname: "127.0.0.1", port }), Deno.errors.ConnectionRefused);
  await receiver.close(); // twice is fine
});

Deno.test("a sink that throws is counted and the connection goes on", async () => {
  let calls = 0;
  await using receiver = await LogReceiver.listen({
    hostname: "127.0.0.1",
    port: 0,
    identify: () => ({ serverUuid: "u-1" }),
    sink: eachLine(() => {
      if (++calls === 1) throw new Error("sink broke");
    }),
  });
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: receiver.port });
  const sent = encoder.encode(record(1) + record(2) + record(2));
  await conn.write(sent);
  await conn.closeWrite();
  assert.equal(await conn.read(new Uint8Array(1)), null);
  conn.close();
  await waitFor(() => receiver.counters.open === 0, "the handler to end");
  assert.deepEqual(
    { ...receiver.counters },
    {
      accepted: 2,
      duplicates: 1,
      malformed: 0,
      truncated: 0,
      refused: 0,
      connections: 1,
      open: 0,
      sinkErrors: 1,
      rateLimited: 0,
      bytes: sent.length,
    },
  );
});

Deno.test("over the rate limit, a machine's lines are dropped and counted; another machine's pass", async () => {
  const entries: Entry[] = [];
  let sender = "flood";
  await using receiver = await LogReceiver.listen({
    hostname: "127.0.0.1",
    port: 0,
    identify: () => ({ serverUuid: sender }),
    sink: eachLine((entry, bytes) => entries.push({ ...entry, bytes: bytes.slice() })), // the bytes are the receiver's
    rateLimit: 100,
  });
  const flood = await Deno.connect({ hostname: "127.0.0.1", port: receiver.port });
  await flood.write(encoder.encode(Array.from({ length: 500 }, (_, seq) => record(seq)).join("")));
  await flood.closeWrite();
  assert.equal(await flood.read(new Uint8Array(1)), null);
  flood.close();
  sender = "quiet";
  const quiet = await Deno.connect({ hostname: "127.0.0.1", port: receiver.port });
  await quiet.write(encoder.encode(record(1) + record(2)));
  await quiet.closeWrite();
  assert.equal(await quiet.read(new Uint8Array(1)), null);
  quiet.close();
  await waitFor(() => receiver.counters.open === 0, "the handlers to end");
  // The bucket holds one second's worth; the flood took far less than a second to arrive.
  const flooded = entries.filter((entry) => entry.identity.serverUuid === "flood").length;
  assert.ok(flooded >= 100 && flooded < 110, `${flooded} flood lines passed`);
  assert.equal(receiver.counters.rateLimited, 500 - flooded);
  assert.equal(entries.filter((entry) => entry.identity.serverUuid === "quiet").length, 2);
});

Deno.test("binding fails at once with a clear error when the port is taken", async () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  await assert.rejects(
    LogReceiver.listen({
      hostname: "127.0.0.1",
      port: taken.addr.port,
      identify: () => undefined,
      sink: eachLine(() => {}),
    }),
    /cannot listen for kernel logs on \[127\.0\.0\.1\]:\d+: .*(in use|AddrInUse)/i,
  );
});

Deno.test("both paths give the same entries and counters for a stream of every kind of line", async () => {
  const lines = [
    record(1), // canonical: the fast path
    record(1), // a replay
    '{"seq": 2, "msg": "spaces"}\n', // valid but not canonical: the full path
    '{"msg":"a \\u003cb\\u003e \\u2028 \\/ \\u00E9","seq":3}\n', // Go's escapes: rewritten on either path
    "not json\n",
    new Uint8Array([...encoder.encode('{"msg":"bad '), 0xff, ...encoder.encode(' byte"}\n')]), // invalid UTF-8
    `{"msg":"${"x".repeat(20_000)}","seq":4}\n`, // overlong: kept, truncated
    `{"msg":"cut across reads ${"y".repeat(300)}","seq":5}\n`,
    record(6).slice(0, -1), // the last line, without "\n"
  ];
  const bytes = new Uint8Array(lines.flatMap((line) => [...(typeof line === "string" ? encoder.encode(line) : line)]));
  const run = async (fastPath: boolean) => {
    const entries: unknown[] = [];
    const receiver = await LogReceiver.listen({
      hostname: "127.0.0.1",
      port: 0,
      identify: () => ({ serverUuid: "u-1", cluster: "c" }),
      sink: eachLine(({ identity: _, timeMs: __, length: ___, ...fields }, bytes) =>
        entries.push({ ...fields, line: decoder.decode(bytes) })
      ),
      fastPath,
    });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: receiver.port });
    for (let at = 0; at < bytes.length; at += 97) await conn.write(bytes.subarray(at, at + 97));
    await conn.closeWrite();
    assert.equal(await conn.read(new Uint8Array(1)), null);
    conn.close();
    await receiver.close();
    return { entries, counters: { ...receiver.counters } };
  };
  const fast = await run(true), full = await run(false);
  assert.deepEqual(fast, full);
  assert.equal(fast.entries.length, 7);
  const msgs = fast.entries.map((entry) => JSON.parse((entry as { line: string }).line).msg.slice(0, 30));
  assert.deepEqual(msgs.slice(2, 4), ["a <b> \u2028 / é", "bad \ufffd byte"]);
});

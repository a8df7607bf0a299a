import assert from "node:assert/strict";
import { FLUSH_MS, LineWriter } from "./line_writer.ts";

/** A sink that records what it got, optionally slow or broken. */
class Recorder {
  chunks: string[] = [];
  writes = 0;
  constructor(private behaviour: "ok" | "broken" | "partial" = "ok") {}
  write(bytes: Uint8Array): Promise<number> {
    this.writes++;
    if (this.behaviour === "broken") return Promise.reject(new Deno.errors.BrokenPipe("Broken pipe (os error 32)"));
    const n = this.behaviour === "partial" ? Math.min(bytes.length, 7) : bytes.length;
    this.chunks.push(new TextDecoder().decode(bytes.subarray(0, n)));
    return Promise.resolve(n);
  }
  get text(): string {
    return this.chunks.join("");
  }
}

Deno.test("lines are written one each, batched, within a few ms", async () => {
  const sink = new Recorder();
  const writer = new LineWriter(sink);
  writer.write("a");
  writer.write("b");
  assert.equal(sink.writes, 0);
  await new Promise((resolve) => setTimeout(resolve, FLUSH_MS + 20));
  assert.equal(sink.text, "a\nb\n");
  assert.equal(sink.writes, 1);
  for (let i = 0; i < 100_000; i++) writer.write(`line ${i}`);
  await writer.close();
  const lines = sink.text.split("\n");
  assert.equal(lines.length, 100_003);
  assert.equal(lines[100_001], "line 99999");
  assert.ok(sink.writes < 100, `${sink.writes} writes`);
  assert.deepEqual(writer.counters, { written: 100_002, dropped: 0 });
});

Deno.test("partial writes are continued", async () => {
  const sink = new Recorder("partial");
  const writer = new LineWriter(sink);
  writer.write("a long line of text");
  writer.write("another");
  await writer.close();
  assert.equal(sink.text, "a long line of text\nanother\n");
});

Deno.test("a closed stdout never throws: lines are counted as dropped", async () => {
  const writer = new LineWriter(new Recorder("broken"));
  writer.write("a");
  await writer.flush();
  writer.write("b");
  await writer.close();
  assert.deepEqual(writer.counters, { written: 0, dropped: 2 });
});

Deno.test("a slow reader: beyond the pending bound lines are dropped, not buffered", async () => {
  let release!: () => void;
  const gate = new Promise<void>((resolve) => release = resolve);
  const received: number[] = [];
  const writer = new LineWriter({
    write: async (bytes) => {
      await gate;
      received.push(bytes.length);
      return bytes.length;
    },
  }, 1000);
  for (let i = 0; i < 2000; i++) writer.write("0123456789");
  await new Promise((resolve) => setTimeout(resolve, FLUSH_MS + 10));
  for (let i = 0; i < 200; i++) writer.write("0123456789");
  release();
  await writer.close();
  assert.equal(writer.counters.written + writer.counters.dropped, 2200);
  assert.ok(writer.counters.dropped > 1000, JSON.stringify(writer.counters));
});

Deno.test("stdout closed by its reader (| head -1) for real: the process carries on and exits 0", async () => {
  const script = `
    import { LineWriter } from ${JSON.stringify(new URL("./line_writer.ts", import.meta.url).href)};
    import { setupLogging } from ${JSON.stringify(new URL("../log.ts", import.meta.url).href)};
    setupLogging("info", true);
    const writer = new LineWriter(Deno.stdout);
    for (let i = 0; i < 200000; i++) writer.write("line " + i);
    await writer.close();
    await new Promise((resolve) => setTimeout(resolve, 50));
    writer.write("after close of the pipe");
    await writer.close();
    console.error(JSON.stringify(writer.counters));
  `;
  const deno = Deno.execPath();
  const { code, stdout, stderr } = await new Deno.Command("bash", {
    args: ["-c", `set -o pipefail; "${deno}" eval --quiet "$SCRIPT" | head -n 1`],
    env: { SCRIPT: script },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const errors = new TextDecoder().decode(stderr);
  assert.equal(code, 0, errors);
  assert.equal(new TextDecoder().decode(stdout), "line 0\n");
  const counters = JSON.parse(errors.trim().split("\n").at(-1)!);
  assert.equal(counters.written + counters.dropped, 200_001);
  assert.ok(counters.dropped > 0);
  assert.match(errors, /stdout cannot be written/);
});

Deno.test("lines given together are written whole, in chunks ending at a line's end", async () => {
  const sink = new Recorder();
  const writer = new LineWriter(sink);
  const encoder = new TextEncoder();
  let seed = 7;
  const random = (below: number) => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % below;
  const expected: string[] = [];
  for (let group = 0; group < 300; group++) {
    const lines = Array.from({ length: 1 + random(40) }, (_, i) => {
      const length = group === 150 && i === 0 ? 100_000 : random(5000); // one line longer than a chunk
      return `${group}.${i} ${"x".repeat(length)}`;
    });
    expected.push(...lines);
    if (random(4) === 0) lines.forEach((line) => writer.write(line)); // one at a time, between groups
    else writer.writeLines(encoder.encode(lines.map((line) => `${line}\n`).join("")), lines.length);
    if (random(10) === 0) await new Promise((resolve) => setTimeout(resolve, 1));
  }
  await writer.close();
  assert.equal(sink.text, expected.map((line) => `${line}\n`).join(""));
  for (const chunk of sink.chunks) {
    assert.ok(chunk.endsWith("\n"), "every write ends at the end of a line");
    assert.ok(chunk.length <= 4 * 1024 * 1024 || !chunk.slice(0, -1).includes("\n"), "longer only for one line");
  }
  assert.deepEqual(writer.counters, { written: expected.length, dropped: 0 });
});

Deno.test("a reader as fast as the lines come: nothing dropped, though a write completes only once a turn", async () => {
  // Each write completes in a later task, as a real write does, while every task brings 1 MiB of lines (the
  // lines of a few large reads): 40 MiB in all, beyond the 16 MiB the writer lets wait.
  const written: number[] = [];
  const writer = new LineWriter({
    write: (bytes) => new Promise((resolve) => setTimeout(() => (written.push(bytes.length), resolve(bytes.length)))),
  });
  const lines = new TextEncoder().encode(`${"x".repeat(1023)}\n`.repeat(1024));
  for (let task = 0; task < 40; task++) {
    writer.writeLines(lines, 1024);
    await new Promise((resolve) => setTimeout(resolve));
  }
  await writer.close();
  assert.deepEqual(writer.counters, { written: 40 * 1024, dropped: 0 });
  assert.equal(written.reduce((sum, n) => sum + n, 0), 40 * lines.length);
  assert.ok(written.every((n) => n % 1024 === 0), "every write ends at the end of a line");
});

Deno.test("turn(): only while much waits, and it settles after a turn even when the reader never reads", async () => {
  const writer = new LineWriter({ write: () => new Promise<number>(() => {}) }); // a reader that never reads
  const lines = new TextEncoder().encode(`${"x".repeat(1023)}\n`.repeat(1024)); // 1 MiB
  writer.writeLines(lines, 1024);
  assert.equal(writer.turn(), undefined, "1 MiB waiting: no reason to wait");
  for (let i = 0; i < 5; i++) writer.writeLines(lines, 1024);
  const turn = writer.turn();
  assert.ok(turn, "6 MiB waiting: a receiver lets the loop turn");
  await turn;
  assert.equal(writer.counters.dropped, 0);
});

Deno.test("lines given together after a chunk filled up to its last byte", async () => {
  const sink = new Recorder();
  const writer = new LineWriter(sink);
  const lines = new TextEncoder().encode(`${"y".repeat(1023)}\n`.repeat(64)); // 64 KiB: one chunk, exactly
  writer.writeLines(lines, 64);
  writer.writeLines(lines, 64);
  await writer.close();
  assert.equal(sink.text, new TextDecoder().decode(lines).repeat(2));
});

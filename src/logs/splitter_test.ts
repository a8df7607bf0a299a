import assert from "node:assert/strict";
import { LineSplitter, MAX_LINE_BYTES, MAX_TAIL_CHARS } from "./splitter.ts";

const encoder = new TextEncoder();

/** Feeds `chunks` to a splitter; returns the lines (with a `!` prefix when truncated) and the drop count. */
function split(chunks: Uint8Array[], maxBytes = MAX_LINE_BYTES): { lines: string[]; dropped: number } {
  const lines: string[] = [];
  let dropped = 0;
  const splitter = new LineSplitter(
    (line, truncated) => lines.push(truncated ? `!${line}` : line),
    () => dropped++,
    maxBytes,
  );
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return { lines, dropped };
}

/** Cuts `bytes` at the given offsets. */
function cut(bytes: Uint8Array, ...at: number[]): Uint8Array[] {
  const points = [0, ...at, bytes.length];
  return points.slice(1).map((end, i) => bytes.subarray(points[i], end));
}

Deno.test("lines split on \\n whatever the chunk boundaries, multi-byte characters included", () => {
  const text = '{"msg":"héllo 😀"}\n{"seq":2}\n\nlast without newline';
  const bytes = encoder.encode(text);
  const expected = ['{"msg":"héllo 😀"}', '{"seq":2}', "", "last without newline"];
  for (let a = 0; a <= bytes.length; a++) {
    assert.deepEqual(split(cut(bytes, a)).lines, expected, `cut at ${a}`);
    for (let b = a; b <= bytes.length; b += 3) assert.deepEqual(split(cut(bytes, a, b)).lines, expected);
  }
  assert.deepEqual(split(Array.from(bytes, (byte) => new Uint8Array([byte]))).lines, expected);
});

Deno.test("invalid UTF-8 becomes U+FFFD and breaks nothing", () => {
  const bytes = new Uint8Array([0x61, 0xff, 0xc3, 0x0a, 0xe2, 0x82, 0x0a, 0x62, 0x0a, 0xc3]);
  assert.deepEqual(split([bytes]).lines, ["a\uFFFD\uFFFD", "\uFFFD", "b", "\uFFFD"]);
});

Deno.test("a line exactly at the cap is whole; one byte more is truncated", () => {
  const max = 64;
  const fits = "x".repeat(max);
  assert.deepEqual(split([encoder.encode(`${fits}\nnext\n`)], max), { lines: [fits, "next"], dropped: 0 });
  // Not a JSON string at the cut: nothing to keep, counted, and the next line still arrives.
  assert.deepEqual(split([encoder.encode(`${fits}y\nnext\n`)], max), { lines: ["next"], dropped: 1 });
  // The cap counts UTF-8 bytes: 22 × "é" is 44 bytes, 33 × "é" is 66.
  assert.deepEqual(split([encoder.encode(`${"é".repeat(32)}\n`)], max).lines, ["é".repeat(32)]);
  assert.deepEqual(split([encoder.encode(`${"é".repeat(33)}\n`)], max).dropped, 1);
});

Deno.test("an overlong record keeps its prefix and the keys after the long msg, marked truncated", () => {
  const msg = "A".repeat(100 * 1024);
  const line =
    `{"clock":5,"facility":"kern","msg":"${msg}\\n","priority":"info","seq":7,"talos-level":"info","talos-time":"2026-03-02T08:15:44Z"}`;
  const input = encoder.encode(`${line}\n{"seq":8}\n`);
  for (const chunks of [[input], cut(input, 1000, 17000, 50000, 102500), cut(input, 16 * 1024)]) {
    const { lines, dropped } = split(chunks);
    assert.equal(dropped, 0);
    assert.equal(lines.length, 2);
    assert.ok(lines[0].startsWith("!"));
    const record = JSON.parse(lines[0].slice(1));
    assert.deepEqual(Object.keys(record), ["clock", "facility", "msg", "priority", "seq", "talos-level", "talos-time"]);
    assert.equal(record.seq, 7);
    assert.equal(record.msg, "A".repeat(MAX_LINE_BYTES - '{"clock":5,"facility":"kern","msg":"'.length));
    assert.equal(lines[1], '{"seq":8}');
  }
});

Deno.test("the cut never splits an escape sequence", () => {
  const max = 40;
  for (let pad = 0; pad < 8; pad++) {
    const msg = "x".repeat(pad) + "\\u00e9\\n\\\\".repeat(20);
    const { lines } = split([encoder.encode(`{"msg":"${msg}","seq":3}\n`)], max);
    assert.equal(lines.length, 1, `pad ${pad}`);
    const record = JSON.parse(lines[0].slice(1));
    assert.equal(record.seq, 3);
    assert.ok(JSON.parse(`"${msg}"`).startsWith(record.msg), `pad ${pad}: ${record.msg}`);
    assert.ok(encoder.encode(JSON.stringify(record.msg)).length <= max);
  }
});

Deno.test("an overlong line whose tail is too long to keep is dropped and counted", () => {
  const tail = ',"extra":"' + "B".repeat(MAX_TAIL_CHARS) + '"}';
  const { lines, dropped } = split([encoder.encode(`{"msg":"${"A".repeat(20000)}"${tail}\n{"seq":1}\n`)]);
  assert.deepEqual({ lines, dropped }, { lines: ['{"seq":1}'], dropped: 1 });
});

Deno.test("an endless line without newline keeps memory bounded and later lines flow", () => {
  const lines: string[] = [];
  let dropped = 0;
  const splitter = new LineSplitter((line) => lines.push(line), () => dropped++);
  const chunk = encoder.encode("z".repeat(64 * 1024));
  for (let i = 0; i < 160; i++) splitter.push(chunk); // 10 MiB
  splitter.push(encoder.encode('\n{"seq":1}\n'));
  splitter.end();
  assert.deepEqual({ lines, dropped }, { lines: ['{"seq":1}'], dropped: 1 });
});

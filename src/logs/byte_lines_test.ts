/**
 * The byte splitter with its fallback gives the same lines, in the same order, as the full path's splitter alone
 * on the same stream, however it is cut into reads: lines that fit, overlong ones (kept or dropped), invalid UTF-8,
 * characters split across reads, a last line without `\n`.
 */
import assert from "node:assert/strict";
import { ByteLineSplitter } from "./byte_lines.ts";
import { LineSplitter } from "./splitter.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const CAP = 64;

/** What a splitter hands on: lines (`!` before a truncated one), `<dropped>` for a dropped one. */
function fullOnly(chunks: Uint8Array[]): string[] {
  const out: string[] = [];
  const splitter = new LineSplitter((line, cut) => out.push(cut ? `!${line}` : line), () => out.push("<dropped>"), CAP);
  for (const chunk of chunks) splitter.push(chunk);
  splitter.end();
  return out;
}

/** The same through the byte splitter, whose fast path takes the lines that are valid UTF-8 and start with `{`. */
function withFastPath(chunks: Uint8Array[]): { out: string[]; fast: number } {
  const out: string[] = [];
  let fast = 0;
  const full = new LineSplitter((line, cut) => out.push(cut ? `!${line}` : line), () => out.push("<dropped>"), CAP);
  const strict = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
  const lines = new ByteLineSplitter(
    (bytes, start, limit, complete) => {
      const newline = bytes.indexOf(0x0a, start);
      const end = complete ? limit : newline >= 0 && newline < limit ? newline : -1;
      if (end < 0 || bytes[start] !== 0x7b) return -1;
      try {
        out.push(strict.decode(bytes.subarray(start, end)));
      } catch {
        return -1;
      }
      fast++;
      return end;
    },
    full,
    CAP,
  );
  for (const chunk of chunks) lines.push(chunk.slice()); // a copy: the splitter must not keep a view of the read
  lines.end();
  return { out, fast };
}

const PIECES = ["{", '{"msg":"', "x", "é", "😀", '"}', "\\", "\n", "\n", "\n", "plain", "\ufeff"];

Deno.test("the same lines as the full path's splitter alone, whatever the reads", () => {
  const next = seededRandom(7);
  let fastLines = 0;
  for (let round = 0; round < 3000; round++) {
    const parts: Uint8Array[] = [];
    for (let n = Math.floor(next() * 30); n > 0; n--) {
      const r = next();
      if (r < 0.05) parts.push(new Uint8Array([0xff, 0xe2, 0x82][Math.floor(next() * 3)])); // invalid UTF-8
      else if (r < 0.1) parts.push(encoder.encode("y".repeat(Math.floor(next() * 3 * CAP)))); // over the cap
      else if (r < 0.15) parts.push(encoder.encode(`\n{${"y".repeat(CAP - 4 + Math.floor(next() * 6))}`)); // at the cap
      else parts.push(encoder.encode(PIECES[Math.floor(next() * PIECES.length)]));
    }
    const stream = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
    parts.reduce((at, part) => (stream.set(part, at), at + part.length), 0);
    const chunks: Uint8Array[] = [];
    for (let at = 0; at < stream.length;) {
      const size = 1 + Math.floor(next() * (next() < 0.5 ? 8 : 3 * CAP));
      chunks.push(stream.subarray(at, at + size));
      at += size;
    }
    const { out, fast } = withFastPath(chunks);
    fastLines += fast;
    assert.deepEqual(out, fullOnly(chunks), `stream ${JSON.stringify(decoder.decode(stream))}`);
  }
  assert.ok(fastLines > 1000, `${fastLines} lines took the fast path`);
});

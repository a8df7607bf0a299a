import assert from "node:assert/strict";
import { GoawayFilter } from "./goaway_filter.ts";

const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
const [DATA, HEADERS, SETTINGS, PING, GOAWAY, WINDOW_UPDATE] = [0x0, 0x1, 0x4, 0x6, 0x7, 0x8];

/** One HTTP/2 frame with a payload of `length` bytes counting up from `fill`. */
function frame(type: number, streamId: number, length: number, fill = 0): Uint8Array {
  const bytes = new Uint8Array(9 + length);
  bytes.set([length >> 16, (length >> 8) & 0xff, length & 0xff, type, 0, 0, 0, 0, 0]);
  new DataView(bytes.buffer).setUint32(5, streamId);
  for (let i = 0; i < length; i++) bytes[9 + i] = (fill + i) & 0xff;
  return bytes;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  parts.reduce((offset, part) => (out.set(part, offset), offset + part.length), 0);
  return out;
}

/** A client-to-server stream as grpc-js sends it, with GOAWAY frames in the middle and at the end. */
const FRAMES = [
  frame(SETTINGS, 0, 18, 1),
  frame(WINDOW_UPDATE, 0, 4, 2),
  frame(HEADERS, 1, 120, 3),
  frame(DATA, 1, 42, 4),
  frame(GOAWAY, 0, 8, 0), // last-stream-id 0, NO_ERROR: what close() sends
  frame(SETTINGS, 0, 0), // a SETTINGS ACK: no payload
  frame(DATA, 3, 70_000, 5), // longer than any chunk below
  frame(GOAWAY, 0, 300, 6), // with debug data spanning chunks
  frame(PING, 0, 8, 7),
  frame(GOAWAY, 0, 8, 0),
];
const INPUT = concat(PREFACE, ...FRAMES);
const EXPECTED = concat(PREFACE, ...FRAMES.filter((bytes) => bytes[3] !== GOAWAY));

/** Splits `bytes` into chunks of pseudo-random sizes from 1 to `max` (xorshift, fixed seed). */
function randomChunks(bytes: Uint8Array, seed: number, max: number): Uint8Array[] {
  const chunks: Uint8Array[] = [];
  let state = seed;
  for (let offset = 0; offset < bytes.length;) {
    state ^= state << 13, state ^= state >>> 17, state ^= state << 5;
    const size = 1 + ((state >>> 0) % max);
    chunks.push(bytes.subarray(offset, offset + size));
    offset += size;
  }
  return chunks;
}

function run(chunks: Uint8Array[]): { output: Uint8Array; dropped: number } {
  const filter = new GoawayFilter();
  return { output: concat(...chunks.map((chunk) => filter.filter(chunk))), dropped: filter.dropped };
}

Deno.test("GOAWAY frames are dropped and every other byte passes, in one chunk", () => {
  assert.deepEqual(run([INPUT]), { output: EXPECTED, dropped: 3 });
});

Deno.test("GOAWAY frames are dropped whatever the chunk boundaries", () => {
  assert.deepEqual(run(randomChunks(INPUT, 1, 1)), { output: EXPECTED, dropped: 3 });
  for (const max of [2, 9, 10, 17, 64, 1500, 16_384]) {
    for (let seed = 1; seed <= 20; seed++) {
      assert.deepEqual(
        run(randomChunks(INPUT, seed, max)),
        { output: EXPECTED, dropped: 3 },
        `max ${max} seed ${seed}`,
      );
    }
  }
});

Deno.test("bytes pass on in the call that brings them; only a partial frame header waits for its rest", () => {
  // Where each frame header starts, and which input bytes are kept.
  const headerStarts = new Set<number>();
  const kept: boolean[] = Array(PREFACE.length).fill(true);
  for (const bytes of FRAMES) {
    headerStarts.add(kept.length);
    kept.push(...Array(bytes.length).fill(bytes[3] !== GOAWAY));
  }
  const keptBefore = [0]; // keptBefore[n]: how many of the first n input bytes are kept
  for (const keep of kept) keptBefore.push(keptBefore.at(-1)! + (keep ? 1 : 0));
  const filter = new GoawayFilter();
  let passed = 0;
  for (let end = 1; end <= INPUT.length; end++) {
    passed += filter.filter(INPUT.subarray(end - 1, end)).length;
    // Bytes of a header still incomplete at `end` are held back; everything kept before it has passed.
    let limit = end;
    for (let start = end - 1; start > end - 9 && start >= 0; start--) if (headerStarts.has(start)) limit = start;
    assert.equal(passed, keptBefore[limit], `after ${end} bytes`);
  }
});

Deno.test("a chunk of whole frames without GOAWAY passes as the same object, without copying", () => {
  const filter = new GoawayFilter();
  const chunk = concat(PREFACE, frame(SETTINGS, 0, 6), frame(HEADERS, 1, 50));
  assert.equal(filter.filter(chunk), chunk);
  const next = concat(frame(DATA, 1, 20), frame(PING, 0, 8));
  assert.equal(filter.filter(next), next);
});

Deno.test("what is not HTTP/2 passes unchanged, GOAWAY-shaped bytes included", () => {
  const http1 = new TextEncoder().encode("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  const almost = new TextEncoder().encode("PRI * HTTP/1.1\r\n\r\n");
  for (const prefix of [http1, almost, new Uint8Array([0, 0, 8, 7, 0, 0, 0, 0, 0])]) {
    const input = concat(prefix, frame(GOAWAY, 0, 8), frame(DATA, 1, 10));
    for (const max of [1, 3, 100]) assert.deepEqual(run(randomChunks(input, 7, max)), { output: input, dropped: 0 });
  }
});

Deno.test("a connection that ends inside a frame loses nothing but the GOAWAY part", () => {
  const cut = concat(PREFACE, frame(DATA, 1, 10), frame(GOAWAY, 0, 8).subarray(0, 12));
  assert.deepEqual(run([cut]), { output: concat(PREFACE, frame(DATA, 1, 10)), dropped: 1 });
  const halfHeader = concat(PREFACE, frame(PING, 0, 8).subarray(0, 5));
  assert.deepEqual(run([halfHeader]).output, PREFACE);
});

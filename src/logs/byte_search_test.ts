import { equal, throws } from "node:assert/strict";
import { ByteSearch } from "./byte_search.ts";

/** The first index of `needle` in `haystack[from..end)` by a plain loop. */
function reference(haystack: Uint8Array, needle: Uint8Array, from: number, end: number): number {
  outer: for (let i = from; i + needle.length <= end; i++) {
    for (let k = 0; k < needle.length; k++) if (haystack[i + k] !== needle[k]) continue outer;
    return i;
  }
  return -1;
}

Deno.test("find agrees with a plain search at every offset, inside and across 16-byte blocks", () => {
  const search = new ByteSearch(4096);
  const bytes = search.bytes;
  const needle = new TextEncoder().encode('"server_uuid":"0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f"');
  bytes.set(needle, 0);
  const base = 64;
  for (let offset = 0; offset < 48; offset++) {
    for (const extra of [0, 1, 15, 16, 17, 100]) {
      const end = base + offset + needle.length + extra;
      bytes.fill(0x61, base, base + 300);
      bytes.set(needle, base + offset);
      equal(search.find(base, end, 0, needle.length), base + offset, `offset ${offset}, extra ${extra}`);
      equal(search.find(base, end - 1 - extra, 0, needle.length), -1, "a match must end before `end`");
      equal(search.find(base + offset + 1, end, 0, needle.length), -1);
    }
  }
});

Deno.test("find skips near misses (first, second and late bytes equal, middle not)", () => {
  const search = new ByteSearch(1 << 16);
  const bytes = search.bytes;
  const needle = new TextEncoder().encode('"cluster":"prod"');
  bytes.set(needle, 0);
  const miss = new TextEncoder().encode('"cluster":"pxod"');
  const base = 32;
  let at = base;
  for (let i = 0; i < 200; i++, at += miss.length) bytes.set(miss, at);
  bytes.set(needle, at);
  equal(search.find(base, at + needle.length, 0, needle.length), at);
});

Deno.test("find agrees with a plain search on random bytes of a small alphabet", () => {
  const search = new ByteSearch(1 << 16);
  const bytes = search.bytes;
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % 3;
  for (let round = 0; round < 300; round++) {
    const length = 3 + (round % 6);
    for (let i = 0; i < length; i++) bytes[i] = 0x61 + random();
    const from = 16 + (round % 5), end = from + 20 + (round * 7) % 300;
    for (let i = from; i < end + 20; i++) bytes[i] = 0x61 + random();
    const expected = reference(bytes, bytes.slice(0, length), from, end);
    equal(search.find(from, end, 0, length), expected, `round ${round}`);
  }
});

Deno.test("find refuses needles under 3 bytes and ranges outside the buffer", () => {
  const search = new ByteSearch(100);
  equal(search.bytes.length, 65536);
  throws(() => search.find(0, 10, 0, 2), RangeError);
  throws(() => search.find(0, 70000, 0, 4), /outside 65536 bytes/);
  throws(() => search.find(0, 10, 65534, 4), RangeError);
});

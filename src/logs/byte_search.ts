/**
 * Finding a byte string in a large buffer fast, for `logs --stdin`: a small WebAssembly function compares 16
 * bytes at a time (SIMD) and checks the whole needle only where three of its bytes match (the first two and the
 * one before last, which for `"server_uuid":"<uuid>"` is a digit of the UUID). The runtime has no fast native
 * byte search (`node:buffer`'s `indexOf` is a JavaScript loop), and decoding every chunk to a string for
 * `String.prototype.indexOf` costs a copy and garbage of the whole input.
 *
 * The module is assembled here from its instructions (listed below as WebAssembly text), so there is no binary
 * to trust and no build step.
 *
 * @module
 */

const I32 = 0x7f, V128 = 0x7b;
const ADD = 0x6a, SUB = 0x6b, AND = 0x71, EQZ = 0x45, NE = 0x47, GT_S = 0x4a, GE_S = 0x4e, CTZ = 0x68;
const LOAD8 = [0x2d, 0, 0], V128_LOAD = [0xfd, 0, 0, 0];
const SPLAT = [0xfd, 0x0f], EQ8 = [0xfd, 0x23], V128_AND = [0xfd, 0x4e], BITMASK = [0xfd, 0x64];
const BLOCK = [0x02, 0x40], LOOP = [0x03, 0x40], IF = [0x04, 0x40], END = 0x0b, RETURN = 0x0f;

function unsigned(n: number): number[] {
  const out: number[] = [];
  do {
    const byte = n & 0x7f;
    n >>>= 7;
    out.push(n ? byte | 0x80 : byte);
  } while (n);
  return out;
}

function signed(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && !(byte & 0x40)) || (n === -1 && (byte & 0x40))) return [...out, byte];
    out.push(byte | 0x80);
  }
}

const get = (local: number) => [0x20, local], set = (local: number) => [0x21, local];
const i32 = (n: number) => [0x41, ...signed(n)];
const br = (depth: number) => [0x0c, depth], brIf = (depth: number) => [0x0d, depth];
const call = (index: number) => [0x10, index];

/** Instructions written one statement per line; flattened into the function body. */
type Code = (number | number[])[][];
const body = (code: Code): number[] => code.flat(2);

/** `(func $equal (param $a i32) (param $b i32) (param $n i32) (result i32) (local $k i32)`: bytes a..a+n = b..b+n. */
const EQUAL = body([
  [BLOCK, LOOP],
  [get(3), get(2), GE_S, brIf(1)], // $k >= $n: equal
  [get(0), get(3), ADD, LOAD8, get(1), get(3), ADD, LOAD8, NE, IF, i32(0), RETURN, END],
  [get(3), i32(1), ADD, set(3), br(0)], // $k += 1
  [END, END],
  [i32(1), END],
]);

/**
 * `(func $find (param $from i32) (param $end i32) (param $needle i32) (param $n i32) (result i32)` with locals
 * `$i $limit $mask $at $spare` (i32) and `$first $late $second` (v128): the first start in [$from, $end - $n]
 * of the needle, or -1.
 */
const FIND = body([
  [get(1), get(3), SUB, set(5)], // $limit = $end - $n: the last possible start
  [get(2), LOAD8, SPLAT, set(9)], // $first = 16 × needle[0]
  [get(2), get(3), ADD, i32(2), SUB, LOAD8, SPLAT, set(10)], // $late = 16 × needle[n - 2]
  [get(2), i32(1), ADD, LOAD8, SPLAT, set(11)], // $second = 16 × needle[1]
  [get(0), set(4)], // $i = $from
  [BLOCK, LOOP], // 16 starts per step while all 16 fit
  [get(4), i32(15), ADD, get(5), GT_S, brIf(1)],
  [get(4), V128_LOAD, get(9), EQ8],
  [get(4), get(3), ADD, i32(2), SUB, V128_LOAD, get(10), EQ8, V128_AND],
  [get(4), i32(1), ADD, V128_LOAD, get(11), EQ8, V128_AND],
  [BITMASK, set(6)], // $mask: the starts where the three bytes match
  [BLOCK, LOOP],
  [get(6), EQZ, brIf(1)],
  [get(4), get(6), CTZ, ADD, set(7)], // $at = $i + lowest set bit
  [get(7), get(2), get(3), call(0), IF, get(7), RETURN, END],
  [get(6), get(6), i32(1), SUB, AND, set(6)], // clear the lowest set bit
  [br(0), END, END],
  [get(4), i32(16), ADD, set(4), br(0)],
  [END, END],
  [BLOCK, LOOP], // the last starts one by one
  [get(4), get(5), GT_S, brIf(1)],
  [get(4), get(2), get(3), call(0), IF, get(4), RETURN, END],
  [get(4), i32(1), ADD, set(4), br(0)],
  [END, END],
  [i32(-1), END],
]);

function moduleBytes(): Uint8Array {
  const vector = (items: number[][]) => [...unsigned(items.length), ...items.flat()];
  const section = (id: number, items: number[][]) => {
    const body = vector(items);
    return [id, ...unsigned(body.length), ...body];
  };
  const code = (locals: number[][], body: number[]) => {
    const all = [...vector(locals), ...body];
    return [...unsigned(all.length), ...all];
  };
  const name = (text: string) => [...unsigned(text.length), ...new TextEncoder().encode(text)];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 1, 0, 0, 0],
    ...section(1, [[0x60, 3, I32, I32, I32, 1, I32], [0x60, 4, I32, I32, I32, I32, 1, I32]]),
    ...section(3, [[0], [1]]),
    ...section(5, [[0x00, 1]]),
    ...section(7, [[...name("find"), 0x00, 1], [...name("memory"), 0x02, 0]]),
    ...section(10, [code([[1, I32]], EQUAL), code([[5, I32], [3, V128]], FIND)]),
  ]);
}

const PAGE = 65536;

type FindFunction = (from: number, end: number, needle: number, length: number) => number;

/**
 * A buffer (WebAssembly memory) and a search in it.
 *
 * @example
 * ```ts
 * const search = new ByteSearch(1024);
 * const needle = new TextEncoder().encode('"server_uuid":"0f3c…"');
 * search.bytes.set(needle, 0);
 * search.bytes.set(data, 64);
 * search.find(64, 64 + data.length, 0, needle.length); // index of the first match, or -1
 * ```
 */
export class ByteSearch {
  readonly #memory: WebAssembly.Memory;
  readonly #find: FindFunction;
  #bytes: Uint8Array;

  /** A search with room for at least `size` bytes. */
  constructor(size: number) {
    const instance = new WebAssembly.Instance(new WebAssembly.Module(moduleBytes() as Uint8Array<ArrayBuffer>));
    this.#memory = instance.exports.memory as WebAssembly.Memory;
    this.#find = instance.exports.find as FindFunction;
    this.#memory.grow(Math.max(0, Math.ceil(size / PAGE) - this.#memory.buffer.byteLength / PAGE));
    this.#bytes = new Uint8Array(this.#memory.buffer);
  }

  /** The buffer. */
  get bytes(): Uint8Array {
    return this.#bytes;
  }

  /**
   * The first index in `[from, end)` where the `length` bytes at `needle` start, or -1. `length` must be at
   * least 3, all indexes inside the buffer.
   */
  find(from: number, end: number, needle: number, length: number): number {
    if (length < 3 || from < 0 || end > this.#bytes.length || needle < 0 || needle + length > this.#bytes.length) {
      throw new RangeError(`find(${from}, ${end}, ${needle}, ${length}) is outside ${this.#bytes.length} bytes`);
    }
    return this.#find(from, end, needle, length);
  }
}

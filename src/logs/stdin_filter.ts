/**
 * `logs --stdin`: filtering documented kernel-log lines (PROTOCOL.md §4) from a byte stream, such as the
 * output of `kubectl logs` of a SideroLink server, without a daemon.
 *
 * The input is read in large chunks straight into the buffer of a {@link ByteSearch}. When the filter names
 * machines (or a cluster, namespace or machine name), the bytes are searched for that annotation exactly as
 * serve writes it and only the lines holding it are decoded, parsed and checked: the work per skipped line is a
 * byte search. Otherwise every line is decoded and parsed. Lines that are not JSON objects are skipped
 * silently. Lines are cut at `\n` bytes, which never occur inside a multi-byte UTF-8 character. Output is
 * written once per chunk read, so a live pipe (`kubectl logs -f … | siderolink logs --stdin`) is followed as it
 * arrives.
 *
 * @module
 */

import { ByteSearch } from "./byte_search.ts";
import { candidateNeedles, type LineFilter, matchesRecord } from "./filter.ts";
import type { LineRenderer } from "./format.ts";
import { parseRecord } from "./record.ts";

/**
 * Fills `into` from its start with the next bytes of the input; returns how many, or `null` at its end.
 * Synchronous reads of stdin are best: an asynchronous read hands each read to another thread and back, which
 * made a 1,000,000-line run take twice as long, and there is nothing else to do while waiting for input.
 */
export type ReadInto = (into: Uint8Array) => number | null | Promise<number | null>;

/** What to show and how. */
export interface StdinFilterOptions {
  filter: LineFilter;
  render: LineRenderer;
  /** Show only the last N matching lines, once the input has ended. */
  tail?: number;
}

/** Counters of one run. */
export interface StdinFilterResult {
  /** Lines shown. */
  shown: number;
}

/** Bytes asked for per read. */
const CHUNK_BYTES = 1 << 20;

/**
 * Longest line kept (bytes). A documented line is at most 16 KiB of record plus its annotations; a longer one
 * is no documented line and is skipped, which bounds memory.
 */
export const MAX_LINE_BYTES = 1 << 20;

const NEWLINE = 0x0a;

/**
 * Reads the input to its end and passes the rendered matching lines to `write`, each ending in `\n`, once per
 * chunk. Errors of `write` (a closed pipe) end the run by propagating.
 *
 * @example
 * ```ts
 * const encoder = new TextEncoder();
 * await filterStream((into) => Deno.stdin.readSync(into), (text) => writeAll(encoder.encode(text)), {
 *   filter: { uuids: ["0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f"] },
 *   render: lineRenderer("json", false),
 * });
 * ```
 */
export async function filterStream(
  read: ReadInto,
  write: (text: string) => Promise<void>,
  options: StdinFilterOptions,
): Promise<StdinFilterResult> {
  const { filter, render, tail } = options;
  const kept = tail === undefined ? undefined : new LastLines(tail);
  const result: StdinFilterResult = { shown: 0 };
  let out: string[] = [];
  const take = (line: string) => {
    const { record } = parseRecord(line);
    if (!record || !matchesRecord(filter, record)) return;
    const rendered = render(line, record);
    if (kept) kept.push(rendered);
    else out.push(rendered);
  };
  const flush = async () => {
    if (out.length === 0) return;
    const text = out.join("\n") + "\n";
    result.shown += out.length;
    out = [];
    await write(text);
  };

  // The buffer holds the needles, then the unfinished line of the last read, then the next read.
  const encoder = new TextEncoder();
  const needles = candidateNeedles(filter)?.map((needle) => encoder.encode(needle));
  const needlesEnd = needles?.reduce((total, needle) => total + needle.length, 0) ?? 0;
  const start = Math.ceil(needlesEnd / 16) * 16;
  const search = new ByteSearch(start + MAX_LINE_BYTES + CHUNK_BYTES + 1);
  const bytes = search.bytes;
  const scanner = needles ? new NeedleScanner(search, needles) : undefined;
  const scan = (from: number, last: number) => {
    if (scanner) scanner.scan(from, last, take);
    else scanAll(bytes, from, last, take);
  };

  let carried = 0; // bytes of an unfinished line at `start`
  let skipping = false; // inside an overlong line, until its end
  for (;;) {
    const count = await read(bytes.subarray(start + carried, start + carried + CHUNK_BYTES));
    if (count === null) break;
    const end = start + carried + count;
    let from = start;
    if (skipping || carried > 0) {
      // The end of the line the previous reads left unfinished: skipped when it is too long.
      const newline = bytes.indexOf(NEWLINE, start + carried);
      if (newline < 0 || newline >= end) {
        if (skipping) continue;
      } else if (skipping || newline - start > MAX_LINE_BYTES) {
        from = newline + 1;
        skipping = false;
      }
    }
    const last = bytes.lastIndexOf(NEWLINE, end - 1);
    if (last >= from) {
      scan(from, last);
      from = last + 1;
    }
    carried = end - from;
    if (carried > MAX_LINE_BYTES) {
      carried = 0;
      skipping = true;
    } else {
      bytes.copyWithin(start, from, end);
    }
    await flush();
  }
  if (!skipping && carried > 0) {
    bytes[start + carried] = NEWLINE; // the last line needs no newline of its own
    scan(start, start + carried);
  }
  if (kept) out = kept.lines();
  await flush();
  return result;
}

const decoder = new TextDecoder();

/** Calls `take` with every line of `bytes[from..last]` (`last` is the index of a `\n`). */
function scanAll(bytes: Uint8Array, from: number, last: number, take: (line: string) => void): void {
  const text = decoder.decode(bytes.subarray(from, last));
  for (let start = 0; start <= text.length;) {
    let stop = text.indexOf("\n", start);
    if (stop < 0) stop = text.length;
    take(text.slice(start, stop));
    start = stop + 1;
  }
}

/** Finds the lines holding any of a set of needles, in input order. */
class NeedleScanner {
  readonly #search: ByteSearch;
  readonly #needles: { at: number; length: number }[] = [];

  /** Copies the needles to the start of the search's buffer. */
  constructor(search: ByteSearch, needles: Uint8Array[]) {
    this.#search = search;
    let at = 0;
    for (const needle of needles) {
      search.bytes.set(needle, at);
      this.#needles.push({ at, length: needle.length });
      at += needle.length;
    }
  }

  /** Calls `take` with each line of `bytes[from..last]` (`last` is the index of a `\n`) holding a needle. */
  scan(from: number, last: number, take: (line: string) => void): void {
    const search = this.#search, bytes = search.bytes, needles = this.#needles;
    // The next match of each needle at or after `from`; a found one is reused until passed. No needle holds a
    // `\n` (JSON escapes it), so a match never crosses a line.
    const hits = needles.map(() => -1);
    for (;;) {
      let hit = -1;
      for (let i = 0; i < needles.length; i++) {
        if (hits[i] !== Infinity && hits[i] < from) {
          const at = search.find(from, last, needles[i].at, needles[i].length);
          hits[i] = at < 0 ? Infinity : at;
        }
        if (hits[i] !== Infinity && (hit < 0 || hits[i] < hit)) hit = hits[i];
      }
      if (hit < 0) return;
      const stop = bytes.indexOf(NEWLINE, hit);
      take(decoder.decode(bytes.subarray(Math.max(from, bytes.lastIndexOf(NEWLINE, hit) + 1), stop)));
      from = stop + 1;
    }
  }
}

/**
 * A reader of a stream's chunks, for {@link filterStream}: copies each chunk into the buffer it is given.
 *
 * @example
 * ```ts
 * await filterStream(readChunks(response.body!), write, options);
 * ```
 */
export function readChunks(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): ReadInto {
  const iterator = Symbol.asyncIterator in chunks
    ? chunks[Symbol.asyncIterator]()
    : (chunks as Iterable<Uint8Array>)[Symbol.iterator]();
  let pending: Uint8Array = new Uint8Array(0);
  return async (into) => {
    while (pending.length === 0) {
      const next = await iterator.next();
      if (next.done) return null;
      pending = next.value;
    }
    const count = Math.min(into.length, pending.length);
    into.set(pending.subarray(0, count));
    pending = pending.subarray(count);
    return count;
  };
}

/** The last N strings pushed, in order, in a ring. */
class LastLines {
  readonly #ring: string[] = [];
  readonly #size: number;
  #next = 0;

  constructor(size: number) {
    this.#size = size;
  }

  push(line: string): void {
    if (this.#size === 0) return;
    if (this.#ring.length < this.#size) this.#ring.push(line);
    else this.#ring[this.#next] = line;
    this.#next = (this.#next + 1) % this.#size;
  }

  lines(): string[] {
    return this.#ring.length < this.#size
      ? this.#ring
      : [...this.#ring.slice(this.#next), ...this.#ring.slice(0, this.#next)];
  }
}

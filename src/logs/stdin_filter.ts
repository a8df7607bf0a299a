/**
 * `logs --stdin`: filtering documented kernel-log lines (PROTOCOL.md §4) from a byte stream, such as the
 * output of `kubectl logs` of a SideroLink server, without a daemon.
 *
 * The stream is read in large chunks and decoded to text; when the filter names machines (or a cluster,
 * namespace or machine name), the chunk is searched for that annotation exactly as serve writes it and only
 * the lines holding it are parsed and checked, which keeps the work per skipped line to a string search. Lines
 * that are not JSON objects are skipped silently. Output is written once per chunk read, so a live pipe
 * (`kubectl logs -f … | siderolink logs --stdin`) is followed as it arrives.
 *
 * @module
 */

import { candidateNeedles, type LineFilter, matchesRecord } from "./filter.ts";
import type { LineRenderer } from "./format.ts";
import { parseRecord } from "./record.ts";

/** What {@link readChunks} reads from: `Deno.stdin`, a `Deno.FsFile`. */
export interface ByteSource {
  readSync(buffer: Uint8Array): number | null;
}

/** Bytes asked for per read. */
const CHUNK_BYTES = 1 << 20;

/**
 * The bytes of `source` in reads of up to 1 MiB (a pipe gives what it holds, at most 64 KiB). The one buffer
 * is reused: each chunk is valid until the next is asked for. Reads are synchronous: an asynchronous read of
 * stdin hands each read to another thread and back, which made a 1,000,000-line run take twice as long, and
 * there is nothing else to do while waiting for input.
 */
export function* readChunks(source: ByteSource): Generator<Uint8Array> {
  const buffer = new Uint8Array(CHUNK_BYTES);
  for (;;) {
    const count = source.readSync(buffer);
    if (count === null) return;
    yield buffer.subarray(0, count);
  }
}

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

/**
 * Longest line kept while waiting for its end (characters). A documented line is at most 16 KiB of record
 * plus its annotations; a longer one is no documented line and is skipped, which bounds memory.
 */
export const MAX_LINE_CHARS = 1 << 20;

/**
 * Reads `input` to its end and passes the rendered matching lines to `write`, each ending in `\n`, once per
 * chunk. Errors of `write` (a closed pipe) end the run by propagating.
 *
 * @example
 * ```ts
 * const encoder = new TextEncoder();
 * await filterStream(readChunks(Deno.stdin), (text) => writeAll(encoder.encode(text)), {
 *   filter: { uuids: ["0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f"] },
 *   render: lineRenderer("json", false),
 * });
 * ```
 */
export async function filterStream(
  input: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  write: (text: string) => Promise<void>,
  options: StdinFilterOptions,
): Promise<StdinFilterResult> {
  const { filter, render, tail } = options;
  const needles = candidateNeedles(filter);
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

  const decoder = new TextDecoder();
  let rest = "";
  let skipping = false; // inside an overlong line, until its end
  for await (const chunk of input) {
    // The decoded chunk is searched as it is; only the line it completes is joined to the previous rest.
    const text = decoder.decode(chunk, { stream: true });
    const first = text.indexOf("\n");
    if (first < 0) {
      if (!skipping) rest += text;
    } else {
      const length = rest.length + first;
      if (!skipping && length <= MAX_LINE_CHARS) {
        scanLines(`${rest}${text.slice(0, first + 1)}`, 0, length, needles, take);
      }
      skipping = false;
      const last = text.lastIndexOf("\n");
      scanLines(text, first + 1, last, needles, take);
      rest = text.slice(last + 1);
    }
    if (rest.length > MAX_LINE_CHARS) {
      rest = "";
      skipping = true;
    }
    await flush();
  }
  rest += decoder.decode();
  if (!skipping && rest.length > 0) scanLines(`${rest}\n`, 0, rest.length, needles, take);
  if (kept) out = kept.lines();
  await flush();
  return result;
}

/**
 * Calls `take` with each line of `text[start..end)` that holds one of `needles`, or with every line when there
 * are none. `start` is the start of a line and `end` the index of a `\n` (or below `start`: no line).
 */
function scanLines(
  text: string,
  start: number,
  end: number,
  needles: string[] | undefined,
  take: (line: string) => void,
): void {
  if (!needles) {
    while (start < end) {
      const stop = text.indexOf("\n", start);
      take(text.slice(start, stop));
      start = stop + 1;
    }
    return;
  }
  // The next occurrence of each needle at or after `from`; a found one is reused until passed.
  const hits = needles.map(() => -1);
  for (let from = start;;) {
    let hit = -1;
    for (let i = 0; i < needles.length; i++) {
      if (hits[i] < from) {
        const at = text.indexOf(needles[i], from);
        hits[i] = at < 0 || at > end ? Infinity : at;
      }
      if (hits[i] < Infinity && (hit < 0 || hits[i] < hit)) hit = hits[i];
    }
    if (hit < 0) return;
    const stop = text.indexOf("\n", hit);
    take(text.slice(Math.max(start, text.lastIndexOf("\n", hit) + 1), stop));
    from = stop + 1;
  }
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

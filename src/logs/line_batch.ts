/**
 * Lines waiting for the store's worker, as bytes: each line's UTF-8 followed by `\n` in one buffer, and beside
 * it the fields the store indexes (machine, boot, seq, time, level) in typed arrays. A line is written straight
 * into the buffer ({@link LineBatch.room}, then {@link LineBatch.take}), so a burst of lines costs no copy of
 * their bytes and no object per line, only a few array slots each. The bytes are in shared memory, so the worker
 * reads them where they are; the store uses two batches in turn (one filling while the worker has the other).
 *
 * @module
 */

import { TALOS_LEVELS, type TalosLevel } from "./record.ts";

/** What the store keeps of a line besides its machine. */
export interface LineFields {
  /** Boot key from the de-duplicator. */
  boot: string;
  /** The record's `seq`, or -1 when it had none. */
  seq: number;
  /** Record time (ms since the epoch); receipt time when the record had none. */
  timeMs: number;
  level: TalosLevel;
}

const NEWLINE = 0x0a;
const decoder = new TextDecoder();

/** The levels by index (a batch keeps each line's as a byte). */
const LEVEL_NAMES: readonly TalosLevel[] = TALOS_LEVELS;
const LEVEL_INDEX: Readonly<Record<TalosLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * A batch of lines. Consecutive lines of one machine and boot form a group, which holds those two once.
 *
 * @example
 * ```ts
 * const batch = new LineBatch();
 * const at = batch.room(line.length);
 * batch.buffer.set(line, at);
 * batch.take("0f3c…", line.length, { boot: "1772439343", seq: 812, timeMs, level: "info" });
 * batch.text(0); // the line
 * ```
 */
export class LineBatch {
  /** Lines in the batch. */
  count = 0;
  #bytes: Uint8Array;
  /** Where each line's `\n` is. */
  ends: Uint32Array;
  seqs: Float64Array;
  times: Float64Array;
  /** Each line's level as its index in `TALOS_LEVELS` (0 the most severe). */
  severities: Uint8Array;
  /** The first line of each group, and the group's machine and boot. */
  readonly groupFirst: number[] = [];
  readonly groupUuid: string[] = [];
  readonly groupBoot: string[] = [];

  constructor(capacity = 64 * 1024, lines = 1024) {
    this.#bytes = sharedBytes(capacity);
    this.ends = new Uint32Array(lines);
    this.seqs = new Float64Array(lines);
    this.times = new Float64Array(lines);
    this.severities = new Uint8Array(lines);
  }

  /** The bytes of the batch so far. */
  get bytes(): Uint8Array {
    return this.#bytes.subarray(0, this.count === 0 ? 0 : this.ends[this.count - 1] + 1);
  }

  /** Where line `i` starts in {@link bytes}. */
  start(i: number): number {
    return i === 0 ? 0 : this.ends[i - 1] + 1;
  }

  /** The buffer the next line is written into (from {@link room} on); a call of `room` may replace it. */
  get buffer(): Uint8Array {
    return this.#bytes;
  }

  /** Makes room for a line of up to `bytes` bytes and its `\n`; returns where in {@link buffer} it goes. */
  room(bytes: number): number {
    const n = this.count;
    const at = n === 0 ? 0 : this.ends[n - 1] + 1;
    if (at + bytes + 1 > this.#bytes.length) {
      const grown = sharedBytes(Math.max(this.#bytes.length * 2, at + bytes + 1));
      grown.set(this.#bytes.subarray(0, at));
      this.#bytes = grown;
    }
    return at;
  }

  /** Appends the line of machine `uuid` written at the place {@link room} gave: its `length` bytes, then `\n`. */
  take(uuid: string, length: number, line: LineFields): void {
    const n = this.count;
    if (n === this.ends.length) this.#growLines();
    const end = (n === 0 ? 0 : this.ends[n - 1] + 1) + length;
    this.#bytes[end] = NEWLINE;
    this.ends[n] = end;
    this.seqs[n] = line.seq;
    this.times[n] = line.timeMs;
    this.severities[n] = LEVEL_INDEX[line.level];
    const groups = this.groupFirst.length;
    if (groups === 0 || this.groupUuid[groups - 1] !== uuid || this.groupBoot[groups - 1] !== line.boot) {
      this.groupFirst.push(n);
      this.groupUuid.push(uuid);
      this.groupBoot.push(line.boot);
    }
    this.count = n + 1;
  }

  /** Empties the batch for reuse (keeping its memory). */
  reset(): void {
    this.count = 0;
    this.groupFirst.length = 0;
    this.groupUuid.length = 0;
    this.groupBoot.length = 0;
  }

  /** Line `i`'s level. */
  level(i: number): TalosLevel {
    return LEVEL_NAMES[this.severities[i]];
  }

  /** Line `i` as text. */
  text(i: number): string {
    return decoder.decode(this.#bytes.subarray(this.start(i), this.ends[i]));
  }

  /** The group of each line from `from` on, in order: its machine and boot, and its lines `[first, end)`. */
  *groups(from = 0): Generator<{ uuid: string; boot: string; first: number; end: number }> {
    const starts = this.groupFirst;
    for (let g = 0; g < starts.length; g++) {
      const end = g + 1 < starts.length ? starts[g + 1] : this.count;
      if (end > from) yield { uuid: this.groupUuid[g], boot: this.groupBoot[g], first: Math.max(from, starts[g]), end };
    }
  }

  /** A new batch with the lines from `from` on. */
  rest(from: number): LineBatch {
    const rest = new LineBatch(Math.max(64 * 1024, this.bytes.length - this.start(from)));
    for (const { uuid, boot, first, end } of this.groups(from)) {
      for (let i = first; i < end; i++) {
        const length = this.ends[i] - this.start(i);
        const at = rest.room(length); // first: it may replace the buffer
        rest.buffer.set(this.#bytes.subarray(this.start(i), this.ends[i]), at);
        rest.take(uuid, length, { boot, seq: this.seqs[i], timeMs: this.times[i], level: this.level(i) });
      }
    }
    return rest;
  }

  #growLines(): void {
    const size = this.ends.length * 2;
    const grow = <T extends Uint32Array | Float64Array | Uint8Array>(old: T, made: T): T => (made.set(old), made);
    this.ends = grow(this.ends, new Uint32Array(size));
    this.seqs = grow(this.seqs, new Float64Array(size));
    this.times = grow(this.times, new Float64Array(size));
    this.severities = grow(this.severities, new Uint8Array(size));
  }
}

function sharedBytes(size: number): Uint8Array {
  return new Uint8Array(new SharedArrayBuffer(size));
}

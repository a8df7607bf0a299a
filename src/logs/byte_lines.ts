/**
 * Splitting a connection's bytes into lines for the fast path (canonical.ts), without decoding them: each line
 * that fits the cap is offered to the fast path as bytes; whatever the fast path does not take (and every
 * overlong line, as it streams in) goes to a {@link LineSplitter}, the full path's splitter, exactly as those
 * bytes arrived. That is the same as the full path seeing the whole stream: the lines it gets are whole lines
 * (or the whole overlong one), and UTF-8 decoding never carries over a `\n` (no multi-byte sequence contains the
 * byte 0x0A, and an invalid sequence cut by it decodes to U+FFFD either way).
 *
 * A line that fits the cap in bytes fits it decoded too when it is valid UTF-8 (the fast path checks that), so
 * the fast path never sees a line the full path would truncate.
 *
 * @module
 */

import type { LineSplitter } from "./splitter.ts";

/**
 * Takes the line at `bytes[start]` and returns where it ends, or -1 to leave it to the full path. With `complete`,
 * the line is `bytes[start, end)`; without, it ends at the first `\n` in `bytes[start, end)`, and -1 also when
 * there is none.
 */
export type FastLineHandler = (bytes: Uint8Array, start: number, end: number, complete: boolean) => number;

const NEWLINE = 0x0a;

/**
 * A byte splitter for one connection.
 *
 * @example
 * ```ts
 * const lines = new ByteLineSplitter((bytes, start, end) => false, fullPathSplitter, 16 * 1024);
 * lines.push(new TextEncoder().encode('{"seq":1}\n'));
 * lines.end();
 * ```
 */
export class ByteLineSplitter {
  readonly #fast: FastLineHandler;
  readonly #full: LineSplitter;
  readonly #maxBytes: number;
  /** The start of a line whose end has not arrived yet (within the cap); see {@link #room}. */
  #carry: Uint8Array | undefined;
  #carried = 0;
  /** Inside an overlong line, which the full path is getting as it arrives. */
  #overlong = false;

  constructor(fast: FastLineHandler, full: LineSplitter, maxBytes: number) {
    this.#fast = fast;
    this.#full = full;
    this.#maxBytes = maxBytes;
  }

  /** Takes the next bytes of the stream (only read during the call). */
  push(bytes: Uint8Array): void {
    const length = bytes.length;
    let start = 0;
    while (start < length) {
      if (!this.#overlong && this.#carried === 0) {
        // The fast path finds the end of a line it takes; only the others are searched for their `\n`.
        const end = this.#fast(bytes, start, Math.min(length, start + this.#maxBytes + 1), false);
        if (end >= 0) {
          start = end + 1;
          continue;
        }
      }
      const newline = bytes.indexOf(NEWLINE, start);
      if (newline < 0) return this.#hold(bytes, start, length);
      if (this.#overlong) {
        this.#full.push(bytes.subarray(start, newline + 1));
        this.#overlong = false;
      } else if (this.#carried > 0) this.#joined(bytes, start, newline);
      else this.#full.push(bytes.subarray(start, newline + 1)); // refused by the fast path, or overlong
      start = newline + 1;
    }
  }

  /** Ends the stream: a last line without `\n` is handed on too. */
  end(): void {
    const carried = this.#carried;
    this.#carried = 0;
    if (carried > 0 && this.#fast(this.#carry!, 0, carried, true) < 0) {
      this.#full.push(this.#carry!.subarray(0, carried));
    }
    this.#overlong = false;
    this.#full.end();
  }

  /** The carried start of a line and its rest `bytes[start, newline)`. */
  #joined(bytes: Uint8Array, start: number, newline: number): void {
    const carried = this.#carried;
    const total = carried + newline - start;
    if (total > this.#maxBytes) {
      this.#carried = 0;
      this.#full.push(this.#carry!.subarray(0, carried));
      this.#full.push(bytes.subarray(start, newline + 1));
      return;
    }
    const carry = this.#room(total + 1);
    this.#carried = 0;
    carry.set(bytes.subarray(start, newline + 1), carried);
    if (this.#fast(carry, 0, total, true) < 0) this.#full.push(carry.subarray(0, total + 1));
  }

  /** Keeps `bytes[start, end)`, the start of a line, or hands it to the full path once it is overlong. */
  #hold(bytes: Uint8Array, start: number, end: number): void {
    if (this.#overlong) return this.#full.push(bytes.subarray(start, end));
    const carried = this.#carried;
    if (carried + end - start > this.#maxBytes) {
      if (carried > 0) this.#full.push(this.#carry!.subarray(0, carried));
      this.#full.push(bytes.subarray(start, end));
      this.#carried = 0;
      this.#overlong = true;
      return;
    }
    this.#room(carried + end - start).set(bytes.subarray(start, end), carried);
    this.#carried = carried + end - start;
  }

  /**
   * The carry, with room for `size` bytes (keeping what it holds). It grows with the lines that need it, so an
   * idle connection holds no more than its longest partial line so far.
   */
  #room(size: number): Uint8Array {
    if (this.#carry && this.#carry.length >= size) return this.#carry;
    const grown = new Uint8Array(Math.min(this.#maxBytes + 1, Math.max(size * 2, 512)));
    if (this.#carry) grown.set(this.#carry.subarray(0, this.#carried));
    this.#carry = grown;
    return grown;
  }
}

/**
 * Buffered writing of output lines to stdout (or any writer), one line each.
 *
 * Lines are joined and written in large writes: at the latest {@link FLUSH_MS} ms after the first unwritten
 * line, or as soon as {@link FLUSH_BYTES} are waiting. While a write is in progress, new lines wait for the next
 * one. Stdout is a copy for the operator's log collector (the store keeps the history), so it must never stop
 * the daemon: when the reader falls behind by more than the pending bound, new lines are dropped and counted;
 * when stdout is closed (a broken pipe), writing stops, and later lines are counted as dropped.
 *
 * @module
 */

import { logger } from "../log.ts";
import { concatBytes } from "../bytes.ts";

/** Longest wait before a line is written (ms). */
export const FLUSH_MS = 5;

/** Bytes waiting that start a write at once. */
export const FLUSH_BYTES = 64 * 1024;

/**
 * Lines are gathered in chunks of this size, each one write (a longer line gets a chunk of its own). A write no
 * larger than a pipe's buffer (64 KiB on Linux) goes in whole while the reader keeps up, so that a `kill -9`
 * seldom leaves half a line on stdout; writes of 256 KiB were always split, and the kill -9 fault test saw the cut.
 */
const CHUNK_BYTES = FLUSH_BYTES;

/**
 * The size of chunks while the writes are behind the lines (see `#nextChunk`); what waits then goes out in one
 * write however many chunks it fills. One write per turn of the event loop is all the writer gets while reads
 * keep the loop busy, and a turn can bring it the lines of four 512 KiB reads: at 64 KiB a write it fell behind
 * even /dev/null at 600,000 lines/s and dropped a third of the lines (bench). Behind, a `kill -9` may cut a line
 * anyway, as it may whenever the reader is slower than the lines.
 */
const BEHIND_CHUNK_BYTES = 4 * 1024 * 1024;

/** Written chunks kept for reuse. */
const FREE_CHUNKS = 4;

/** Large chunks kept for reuse while the writes are behind (let go when they catch up). */
const FREE_BEHIND_CHUNKS = 2;

/** Bytes allowed to wait while the reader is slow; beyond that, new lines are dropped. */
export const MAX_PENDING_BYTES = 16 * 1024 * 1024;

/** What the writer writes to: `Deno.stdout`, a `Deno.FsFile`, a `Deno.Conn`. */
export interface ByteSink {
  write(bytes: Uint8Array): Promise<number>;
}

/** Counters of a {@link LineWriter}. */
export interface LineWriterCounters {
  /** Lines written. */
  written: number;
  /** Lines dropped (slow or closed output). */
  dropped: number;
}

const log = logger(["logs", "stdout"]);
const encoder = new TextEncoder();
const NEWLINE = 0x0a;

/**
 * A buffered line writer.
 *
 * @example
 * ```ts
 * const out = new LineWriter(Deno.stdout);
 * out.write('{"seq":1}');
 * await out.close();
 * ```
 */
export class LineWriter {
  readonly counters: LineWriterCounters = { written: 0, dropped: 0 };
  readonly #sink: ByteSink;
  readonly #maxPending: number;
  /** The lines waiting, each followed by `\n`: full chunks, then `#used` bytes of `#current`; `#lines` lines. */
  #chunks: Uint8Array[] = [];
  #current: Uint8Array = new Uint8Array(CHUNK_BYTES);
  #used = 0;
  #pending = 0;
  #lines = 0;
  /** The size of new chunks: {@link CHUNK_BYTES}, or {@link BEHIND_CHUNK_BYTES} while the writes are behind. */
  #chunkSize = CHUNK_BYTES;
  /** Chunks written out, for the next lines (a few: a burst while the reader is slow is let go afterwards). */
  readonly #free: Uint8Array[] = [];
  /** Large chunks written out, kept while the writes are behind. */
  #freeBehind: Uint8Array[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #broken = false;
  #slowReported = false;

  constructor(sink: ByteSink = Deno.stdout, maxPending: number = MAX_PENDING_BYTES) {
    this.#sink = sink;
    this.#maxPending = maxPending;
  }

  /** Queues one line (without `\n`; bytes are copied at once). Never throws and never waits. */
  write(line: string | Uint8Array): void {
    if (!this.#admit(1)) return;
    const most = (typeof line === "string" ? line.length * 3 : line.length) + 1;
    if (this.#current.length - this.#used < most) this.#nextChunk(most);
    const chunk = this.#current;
    let used = this.#used;
    if (typeof line === "string") used += encoder.encodeInto(line, chunk.subarray(used)).written;
    else if (line.length < 64) { // short lines are copied faster by hand than through a view
      for (let i = 0; i < line.length; i++) chunk[used + i] = line[i];
      used += line.length;
    } else {
      chunk.set(line, used);
      used += line.length;
    }
    chunk[used++] = NEWLINE;
    this.#pending += used - this.#used;
    this.#used = used;
    this.#lines++;
    this.#closeOversized();
    this.#schedule();
  }

  /**
   * Queues `lines` whole lines given together, each followed by its `\n` (copied at once, in one piece per chunk:
   * a chunk still ends at the end of a line). Never throws and never waits.
   */
  writeLines(bytes: Uint8Array, lines: number): void {
    if (!this.#admit(lines)) return;
    for (let from = 0; from < bytes.length;) {
      let to = bytes.length;
      const room = this.#current.length - this.#used;
      if (to - from > room) {
        // (a negative start would make lastIndexOf search from the end)
        to = room === 0 ? from : bytes.lastIndexOf(NEWLINE, from + room - 1) + 1;
        if (to <= from) { // not even the first line fits: a chunk for it
          const end = bytes.indexOf(NEWLINE, from);
          this.#nextChunk((end < 0 ? bytes.length : end + 1) - from);
          continue;
        }
      }
      this.#current.set(bytes.subarray(from, to), this.#used);
      this.#used += to - from;
      this.#pending += to - from;
      from = to;
      this.#closeOversized();
    }
    this.#lines += lines;
    this.#schedule();
  }

  /** Whether `lines` more lines may be queued; counts them as dropped if not. */
  #admit(lines: number): boolean {
    if (this.#broken) {
      this.counters.dropped += lines;
      return false;
    }
    if (this.#pending > this.#maxPending) {
      this.counters.dropped += lines;
      if (!this.#slowReported) {
        this.#slowReported = true;
        log.warn("stdout is not keeping up; dropping output lines (the store still keeps them)");
      }
      return false;
    }
    return true;
  }

  /** Starts a write now when enough waits, or soon. */
  #schedule(): void {
    if (this.#writing) return;
    if (this.#pending >= FLUSH_BYTES) this.#start();
    else this.#timer ??= setTimeout(() => this.#start(), FLUSH_MS);
  }

  /**
   * While more than {@link BEHIND_CHUNK_BYTES} wait, a promise that settles after a turn of the event loop, in which
   * the write in progress can complete; otherwise undefined. Reads that complete at once keep the loop from
   * turning, so a receiver awaits this before each read: a turn, never longer (a slow reader still drops lines).
   */
  turn(): Promise<void> | undefined {
    if (this.#pending <= BEHIND_CHUNK_BYTES || this.#broken) return undefined;
    return new Promise((resolve) => setTimeout(resolve, 0));
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    while (this.#writing || this.#lines > 0) {
      if (!this.#writing) this.#start();
      await this.#writing;
    }
  }

  /** Writes everything queued, then stops the timer. The sink itself stays open. */
  async close(): Promise<void> {
    await this.flush();
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #start(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing || this.#lines === 0) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
    });
  }

  /** A chunk made for a line longer than a chunk holds that line alone (one write of its own). */
  #closeOversized(): void {
    const size = this.#current.length;
    if (size > CHUNK_BYTES && size !== BEHIND_CHUNK_BYTES) this.#nextChunk(0, false);
  }

  /**
   * Closes the current chunk and starts one with room for `bytes`. When the current one `filled` up while a write
   * is in progress or another full chunk waits for one, the writes are behind: large chunks from then on, until a
   * write finds no more than a small chunk's worth waiting.
   */
  #nextChunk(bytes: number, filled = true): void {
    if (this.#used === 0 && this.#current.length >= bytes) return;
    if (filled && (this.#writing !== undefined || this.#chunks.length > 0)) this.#chunkSize = BEHIND_CHUNK_BYTES;
    if (this.#used > 0) this.#chunks.push(this.#current.subarray(0, this.#used));
    const size = this.#chunkSize;
    const free = size === CHUNK_BYTES ? this.#free : this.#freeBehind;
    this.#current = bytes > size ? new Uint8Array(bytes) : free.pop() ?? new Uint8Array(size);
    this.#used = 0;
  }

  /** Keeps a written chunk for reuse, if it is of the size in use and there is room. */
  #reuse(chunk: Uint8Array): void {
    const size = chunk.buffer.byteLength;
    if (size === CHUNK_BYTES && this.#free.length < FREE_CHUNKS) this.#free.push(new Uint8Array(chunk.buffer));
    if (size === BEHIND_CHUNK_BYTES && this.#chunkSize === size && this.#freeBehind.length < FREE_BEHIND_CHUNKS) {
      this.#freeBehind.push(new Uint8Array(chunk.buffer));
    }
  }

  async #drain(): Promise<void> {
    while (this.#lines > 0 && !this.#broken) {
      const lines = this.#lines;
      if (this.#chunks.length === 0 && this.#used <= CHUNK_BYTES) { // caught up: small chunks again
        this.#chunkSize = CHUNK_BYTES;
        this.#freeBehind = [];
      }
      this.#nextChunk(0, false);
      const chunks = this.#chunks;
      this.#chunks = [];
      this.#lines = 0;
      this.#pending = 0;
      try {
        // Several chunks waiting (more than a large chunk came during one write) go out as one, so that one write
        // per turn of the event loop takes all that waits, however much a turn brought.
        const writes = chunks.length > 1 ? [concatBytes(chunks)] : chunks;
        if (writes !== chunks) chunks.forEach((chunk) => this.#reuse(chunk)); // copied
        for (const bytes of writes) {
          for (let offset = 0; offset < bytes.length;) offset += await this.#sink.write(bytes.subarray(offset));
          this.#reuse(bytes);
        }
        this.counters.written += lines;
        this.#slowReported = false;
      } catch (error) {
        this.#broken = true;
        this.counters.dropped += lines;
        log.error("stdout cannot be written ({error}); output lines are dropped from now on (the store keeps them)", {
          error: (error as Error).message,
        });
      }
    }
    if (this.#broken) {
      this.counters.dropped += this.#lines;
      this.#lines = 0;
      this.#pending = 0;
      this.#chunks = [];
      this.#used = 0;
    }
  }
}

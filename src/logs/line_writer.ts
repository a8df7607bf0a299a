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

/** Longest wait before a line is written (ms). */
export const FLUSH_MS = 5;

/** Characters waiting that start a write at once. */
export const FLUSH_BYTES = 64 * 1024;

/** Characters allowed to wait while the reader is slow; beyond that, new lines are dropped. */
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
  #lines: string[] = [];
  #pending = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #writing: Promise<void> | undefined;
  #broken = false;
  #slowReported = false;

  constructor(sink: ByteSink = Deno.stdout, maxPending: number = MAX_PENDING_BYTES) {
    this.#sink = sink;
    this.#maxPending = maxPending;
  }

  /** Queues one line (without `\n`). Never throws and never waits. */
  write(line: string): void {
    if (this.#broken) {
      this.counters.dropped++;
      return;
    }
    if (this.#pending > this.#maxPending) {
      this.counters.dropped++;
      if (!this.#slowReported) {
        this.#slowReported = true;
        log.warn("stdout is not keeping up; dropping output lines (the store still keeps them)");
      }
      return;
    }
    this.#lines.push(line);
    this.#pending += line.length + 1;
    if (this.#writing) return;
    if (this.#pending >= FLUSH_BYTES) this.#start();
    else this.#timer ??= setTimeout(() => this.#start(), FLUSH_MS);
  }

  /** Writes everything queued so far. */
  async flush(): Promise<void> {
    while (this.#writing || this.#lines.length > 0) {
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
    if (this.#writing || this.#lines.length === 0) return;
    this.#writing = this.#drain().finally(() => {
      this.#writing = undefined;
    });
  }

  async #drain(): Promise<void> {
    while (this.#lines.length > 0 && !this.#broken) {
      const lines = this.#lines;
      this.#lines = [];
      this.#pending = 0;
      lines.push("");
      const bytes = encoder.encode(lines.join("\n"));
      try {
        for (let offset = 0; offset < bytes.length;) offset += await this.#sink.write(bytes.subarray(offset));
        this.counters.written += lines.length - 1;
        this.#slowReported = false;
      } catch (error) {
        this.#broken = true;
        this.counters.dropped += lines.length - 1;
        log.error("stdout cannot be written ({error}); output lines are dropped from now on (the store keeps them)", {
          error: (error as Error).message,
        });
      }
    }
    if (this.#broken) {
      this.counters.dropped += this.#lines.length;
      this.#lines = [];
      this.#pending = 0;
    }
  }
}

/**
 * The whole kernel-log path of `serve`, wired: receiver → output line on stdout and history in the store.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import type { IdentifyByAddress } from "../machines/identity.ts";
import { Deduplicator } from "./dedupe.ts";
import { type ByteSink, LineWriter, type LineWriterCounters } from "./line_writer.ts";
import { type LogEntry, LogReceiver, type LogReceiverCounters, type LogSink } from "./receiver.ts";
import { LogStore, type LogStoreCounters } from "./store.ts";

/** Settings of the kernel-log path. */
export interface LogPipelineOptions {
  /** The server's tunnel address. */
  hostname: string;
  /** TCP port (4001); 0 picks a free one. */
  port: number;
  /** Looks up the machine at a canonical source address. */
  identify: IdentifyByAddress;
  /** The state database (`SqliteState.db`), which holds `log_lines`. */
  db: DatabaseSync;
  /** Where output lines go (default `Deno.stdout`). */
  output?: ByteSink;
  /** Lines kept per machine (default 5000). */
  retainLines?: number;
  /** Age limit by record time in ms (default 30 days). */
  retainAgeMs?: number;
  /** How long to retry binding while the address is not available (default 20 s). */
  bindRetryMs?: number;
  /** Most lines per second per machine; unlimited when absent. */
  rateLimit?: number;
  /** Whether canonical lines take the receiver's fast path (default: unless `SIDEROLINK_LOGS_FAST_PATH=0`). */
  fastPath?: boolean;
}

/** All counters of the path, for metrics. */
export interface LogPipelineCounters {
  receiver: LogReceiverCounters;
  store: LogStoreCounters;
  stdout: LineWriterCounters;
}

/**
 * The running kernel-log path. The de-duplicator is seeded from the stored history, so records a machine
 * replays after a restart of `serve` are recognised too.
 *
 * @example
 * ```ts
 * const logs = await LogPipeline.start({ hostname: serverAddress, port: 4001, identify: registry.identify, db: state.db });
 * logs.store.subscribe({ uuids: [uuid] }, (rows) => …);
 * await logs.close();
 * ```
 */
export class LogPipeline implements AsyncDisposable {
  readonly receiver: LogReceiver;
  readonly store: LogStore;
  readonly writer: LineWriter;

  private constructor(receiver: LogReceiver, store: LogStore, writer: LineWriter) {
    this.receiver = receiver;
    this.store = store;
    this.writer = writer;
  }

  /** Opens the store, binds the receiver (retrying while the address is not available) and starts receiving. */
  static async start(options: LogPipelineOptions): Promise<LogPipeline> {
    const writer = new LineWriter(options.output ?? Deno.stdout);
    // Each line is written once, into the store's batch, whose bytes (the lines with their `\n`) are also stdout's.
    const store = new LogStore(options.db, {
      retainLines: options.retainLines,
      retainAgeMs: options.retainAgeMs,
      tee: (bytes, lines) => writer.writeLines(bytes, lines),
    });
    const dedupe = new Deduplicator();
    for (const { uuid, boot, maxSeq } of store.lastSeqs()) dedupe.machine(uuid).seed(boot, maxSeq);
    const sink: LogSink = {
      room: (bytes) => store.room(bytes),
      get buffer() {
        return store.buffer;
      },
      take: (entry: LogEntry) => store.take(entry.identity.serverUuid, entry.length, entry),
      endOfRead: () => store.passOn(),
    };
    try {
      const backpressure = () => store.backlog() ?? writer.turn();
      const receiver = await LogReceiver.listen({ ...options, sink, dedupe, backpressure });
      return new LogPipeline(receiver, store, writer);
    } catch (error) {
      store.close();
      await writer.close();
      throw error;
    }
  }

  /** The counters of every stage. */
  get counters(): LogPipelineCounters {
    return { receiver: this.receiver.counters, store: this.store.counters, stdout: this.writer.counters };
  }

  /** Stops receiving, then commits the history and writes out stdout. */
  async close(): Promise<void> {
    await this.receiver.close();
    this.store.close();
    await this.writer.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

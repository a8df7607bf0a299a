/**
 * The kernel-log TCP receiver (PROTOCOL.md §4): accepts connections on the server's tunnel address, identifies
 * each by its source address, splits the stream into lines, parses, de-duplicates and annotates the records,
 * and hands each accepted one to a sink.
 *
 * Nothing a machine sends can disturb other lines or other connections: a line that is no JSON object is
 * counted and skipped, an overlong line is truncated (see splitter.ts), and every connection has its own state.
 * The identity is looked up again for every chunk read, so a long-lived connection follows inventory changes;
 * a connection whose source stops being a known machine is closed.
 *
 * Two paths give the same lines: the fast path (byte_lines.ts, canonical.ts) takes the lines Talos writes, already
 * canonical, as bytes and splices the annotations in; the full path (splitter.ts, `JSON.parse`, record.ts) takes
 * every other line, and all of them when `SIDEROLINK_LOGS_FAST_PATH=0` (the tests run both ways).
 *
 * @module
 */

import { bindWhenAvailable } from "../bind_retry.ts";
import { logger } from "../log.ts";
import { annotations, type IdentifyByAddress, type MachineIdentity } from "../machines/identity.ts";
import { Deduplicator } from "./dedupe.ts";
import { ByteLineSplitter } from "./byte_lines.ts";
import { LineSplicer } from "./canonical.ts";
import { levelOf, LineFormatter, parseRecord, recordTimeMs, type TalosLevel } from "./record.ts";
import { RateLimiter } from "./rate_limit.ts";
import { canonicalAddress } from "./source_address.ts";
import { LineSplitter, MAX_LINE_BYTES } from "./splitter.ts";

/**
 * Read sizes: a connection starts small (most are idle: a machine sends a few lines now and then, and thousands
 * of connections may wait at once) and grows while reads fill the buffer (a burst: bigger reads mean fewer
 * trips through the event loop per line), shrinking again when it quiets down.
 */
const MIN_READ_BYTES = 8 * 1024;
const MAX_READ_BYTES = 256 * 1024;

/** One accepted record, with everything the output and the store need (valid during the sink's call only). */
export interface LogEntry {
  identity: MachineIdentity;
  /** The length of the documented output line (UTF-8, no `\n`), written where the sink's `room` said. */
  length: number;
  /** The boot key from the de-duplicator ("" when unknown). */
  boot: string;
  /** The record's seq, or -1 when it had none. */
  seq: number;
  /** Record time in ms since the epoch, or the receipt time when the record has none. */
  timeMs: number;
  level: TalosLevel;
}

/**
 * Receives the accepted records, their lines written in place: for each line the receiver asks for room, writes the
 * output line into the sink's buffer there and, if the record is accepted, hands it on with `take`; otherwise the
 * next line is written over it. So a line is written once, where it is kept (the store's batch), with no copy. The
 * receiver calls nothing else of the sink between `room` and `take`. None of it may throw (an exception of `take`
 * is logged and the line counted as failed).
 */
export interface LogSink {
  /** Makes room for a line of up to `bytes` bytes; returns where in {@link LogSink.buffer} it is to be written. */
  room(bytes: number): number;
  /** Where lines are written; read it after `room`, which may replace it. */
  readonly buffer: Uint8Array;
  /** Takes the line just written (`entry.length` bytes where `room` said). */
  take(entry: LogEntry): void;
  /** Called after the lines of each read (and at the end of a connection): the sink may pass them on. */
  endOfRead(): void;
}

/**
 * A sink that calls `each` with every accepted record and its line, whose bytes are valid during the call only.
 *
 * @example
 * ```ts
 * const sink = eachLine((entry, bytes) => lines.push(new TextDecoder().decode(bytes)));
 * ```
 */
export function eachLine(each: (entry: LogEntry, bytes: Uint8Array) => void): LogSink {
  let buffer = new Uint8Array(4 * MAX_LINE_BYTES);
  return {
    get buffer() {
      return buffer;
    },
    room(bytes) {
      if (buffer.length < bytes) buffer = new Uint8Array(bytes * 2);
      return 0;
    },
    take: (entry) => each(entry, buffer.subarray(0, entry.length)),
    endOfRead() {},
  };
}

/** Counters of a {@link LogReceiver}, for metrics. */
export interface LogReceiverCounters {
  /** Records handed to the sink. */
  accepted: number;
  /** Records dropped as already seen (same machine, boot and seq). */
  duplicates: number;
  /** Lines that gave no record: not a JSON object, or overlong and not recoverable. */
  malformed: number;
  /** Overlong lines (whose middle was dropped); those still recoverable are also counted as accepted. */
  truncated: number;
  /** Connections from sources that are no known machine, closed at once. */
  refused: number;
  /** Connections accepted so far. */
  connections: number;
  /** Connections open now. */
  open: number;
  /** Records the sink threw on. */
  sinkErrors: number;
  /** Lines dropped unread because their machine was over `rateLimit`. */
  rateLimited: number;
  /** Bytes read from known machines' connections. */
  bytes: number;
}

/** Where and how to receive. */
export interface LogReceiverOptions {
  /** The server's tunnel address (or a loopback address in tests). */
  hostname: string;
  /** TCP port (4001); 0 picks a free one (see {@link LogReceiver.port}). */
  port: number;
  /** Looks up the machine at a canonical source address. */
  identify: IdentifyByAddress;
  /** Receives accepted records (see {@link eachLine} for a sink of one call per line). */
  sink: LogSink;
  /** De-duplication state (pass one seeded from the store); a new one by default. */
  dedupe?: Deduplicator;
  /** Line cap in bytes (16 KiB). */
  maxLineBytes?: number;
  /** How long to retry binding while the address is not available (20 s). */
  bindRetryMs?: number;
  /** Most lines per second per machine (bursts up to as many); beyond it lines are dropped and counted. */
  rateLimit?: number;
  /** Before each read: a promise to wait for when the consumer is behind (see `LogStore.backlog`). */
  backpressure?: () => Promise<void> | undefined;
  /** Whether canonical lines take the fast path (default: unless `SIDEROLINK_LOGS_FAST_PATH` is `0`). */
  fastPath?: boolean;
}

/** Whether the environment leaves the fast path on (`SIDEROLINK_LOGS_FAST_PATH=0` turns it off). */
export function fastPathFromEnvironment(): boolean {
  try {
    return Deno.env.get("SIDEROLINK_LOGS_FAST_PATH") !== "0";
  } catch {
    return true; // no permission to read the environment: the default
  }
}

const encoder = new TextEncoder();

const log = logger(["logs", "receiver"]);

/**
 * A running receiver.
 *
 * @example
 * ```ts
 * const receiver = await LogReceiver.listen({
 *   hostname: "fdae:41e4:649b:9303::1", port: 4001, identify: registry.identify,
 *   sink: eachLine((entry, bytes) => out.write(bytes)),
 * });
 * // …
 * await receiver.close();
 * ```
 */
export class LogReceiver implements AsyncDisposable {
  readonly counters: LogReceiverCounters = {
    accepted: 0,
    duplicates: 0,
    malformed: 0,
    truncated: 0,
    refused: 0,
    connections: 0,
    open: 0,
    sinkErrors: 0,
    rateLimited: 0,
    bytes: 0,
  };
  readonly #listener: Deno.TcpListener;
  readonly #options: LogReceiverOptions;
  readonly #dedupe: Deduplicator;
  readonly #limiter: RateLimiter | undefined;
  readonly #connections = new Set<Deno.TcpConn>();
  readonly #handlers = new Set<Promise<void>>();
  readonly #accepting: Promise<void>;
  #closing = false;
  #closed: Promise<void> | undefined;

  private constructor(listener: Deno.TcpListener, options: LogReceiverOptions) {
    this.#listener = listener;
    this.#options = options;
    this.#dedupe = options.dedupe ?? new Deduplicator();
    this.#limiter = options.rateLimit === undefined
      ? undefined
      : new RateLimiter(options.rateLimit, (uuid, dropped) =>
        log.warn("server {uuid} is over the kernel-log rate limit of {limit} lines/s: {dropped} lines dropped", {
          uuid,
          limit: options.rateLimit,
          dropped,
        }));
    this.#accepting = this.#accept();
  }

  /**
   * Binds and starts accepting. While the address is not usable yet (EADDRNOTAVAIL right after it was added),
   * binding is retried for up to `bindRetryMs`; other errors (address in use, permission) fail at once.
   */
  static async listen(options: LogReceiverOptions): Promise<LogReceiver> {
    const where = `[${options.hostname}]:${options.port}`;
    try {
      const listener = await bindWhenAvailable(
        `kernel logs on ${where}`,
        () => Deno.listen({ hostname: options.hostname, port: options.port, transport: "tcp" }),
        options.bindRetryMs,
      );
      return new LogReceiver(listener, options);
    } catch (error) {
      throw new Error(`cannot listen for kernel logs on ${where}: ${(error as Error).message}`);
    }
  }

  /** The bound port. */
  get port(): number {
    return (this.#listener.addr as Deno.NetAddr).port;
  }

  /** Stops accepting, closes every connection (the lines read so far are handed on) and waits for them. */
  close(): Promise<void> {
    this.#closed ??= this.#shutdown();
    return this.#closed;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  async #shutdown(): Promise<void> {
    this.#closing = true;
    try {
      this.#listener.close();
    } catch { /* already closed */ }
    for (const conn of this.#connections) closeQuietly(conn);
    await this.#accepting;
    await Promise.all(this.#handlers);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener.accept();
      } catch (error) {
        if (this.#closing) return;
        // Accept errors (e.g. too many open files) affect one connection; keep accepting after a pause.
        log.warn("accepting a kernel-log connection failed: {error}", { error: (error as Error).message });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const handler = this.#serve(conn).finally(() => this.#handlers.delete(handler));
      this.#handlers.add(handler);
    }
  }

  async #serve(conn: Deno.TcpConn): Promise<void> {
    const remote = conn.remoteAddr;
    const address = canonicalAddress(remote.hostname) ?? remote.hostname;
    let identity = this.#options.identify(address);
    if (!identity || this.#closing) {
      if (!this.#closing) {
        this.counters.refused++;
        log.warn("refused kernel-log connection from {address}: no known machine has this address", { address });
      }
      closeQuietly(conn);
      return;
    }
    this.counters.connections++;
    this.counters.open++;
    this.#connections.add(conn);
    log.debug("kernel-log connection from {address} ({uuid})", { address, uuid: identity.serverUuid });
    const counters = this.counters;
    const sink = this.#options.sink;
    const limiter = this.#limiter;
    let formatter = new LineFormatter(annotations(identity));
    let splicer = new LineSplicer(annotations(identity));
    let dedupe = this.#dedupe.machine(identity.serverUuid);

    const entry: LogEntry = { identity, length: 0, boot: "", seq: -1, timeMs: 0, level: "info" }; // one per connection
    const hand = (
      length: number,
      boot: string,
      seq: number | undefined,
      timeMs: number | undefined,
      level: TalosLevel,
    ) => {
      counters.accepted++;
      entry.identity = identity!;
      entry.length = length;
      entry.boot = boot;
      entry.seq = seq ?? -1;
      entry.timeMs = timeMs ?? Date.now();
      entry.level = level;
      try {
        sink.take(entry);
      } catch (error) {
        counters.sinkErrors++;
        log.error("the kernel-log sink failed: {error}", { error: (error as Error).message });
      }
    };

    const onLine = (text: string, truncated: boolean): void => {
      if (limiter && !limiter.admit(identity!.serverUuid)) {
        counters.rateLimited++;
        return;
      }
      if (truncated) counters.truncated++;
      const parsed = parseRecord(text);
      const record = parsed.record;
      if (!record) {
        counters.malformed++;
        log.debug("skipped a line from {address}: {reason}", { address, reason: parsed.error });
        return;
      }
      if (truncated) record.truncated = true;
      const seq = Number.isSafeInteger(record.seq) ? record.seq as number : undefined;
      const clock = typeof record.clock === "number" ? record.clock : undefined;
      const timeMs = recordTimeMs(record);
      const boot = dedupe.admit(seq, clock, timeMs);
      if (boot === undefined) {
        counters.duplicates++;
        return;
      }
      const line = formatter.format(record);
      const at = sink.room(line.length * 3);
      hand(encoder.encodeInto(line, sink.buffer.subarray(at)).written, boot, seq, timeMs, levelOf(record));
    };
    const maxLineBytes = this.#options.maxLineBytes ?? MAX_LINE_BYTES;
    const splitter = new LineSplitter(onLine, () => {
      counters.truncated++;
      counters.malformed++;
    }, maxLineBytes);

    /** The fast path: -1 leaves the line to the full path, which then does everything as for any line. */
    const onCanonicalLine = (bytes: Uint8Array, start: number, end: number, complete: boolean): number => {
      const at = sink.room(end - start + splicer.extraBytes);
      const length = splicer.splice(bytes, start, end, sink.buffer, complete, at);
      if (length < 0) return -1;
      if (limiter && !limiter.admit(identity!.serverUuid)) {
        counters.rateLimited++;
        return splicer.lineEnd;
      }
      const seq = splicer.seq;
      const timeMs = splicer.timeMs();
      const boot = dedupe.admit(seq, splicer.clock, timeMs);
      if (boot === undefined) counters.duplicates++;
      else hand(length, boot, seq, timeMs, splicer.level);
      return splicer.lineEnd;
    };
    const fastPath = this.#options.fastPath ?? fastPathFromEnvironment();
    const lines = fastPath ? new ByteLineSplitter(onCanonicalLine, splitter, maxLineBytes) : splitter;

    let buffer = new Uint8Array(MIN_READ_BYTES);
    try {
      for (;;) {
        let n: number | null;
        const behind = this.#options.backpressure?.();
        if (behind) await behind;
        try {
          n = await conn.read(buffer);
        } catch (error) {
          if (!this.#closing) {
            log.debug("kernel-log connection from {address} ended: {error}", {
              address,
              error: (error as Error).message,
            });
          }
          break;
        }
        if (n === null) break;
        const current = this.#options.identify(address);
        if (!current) {
          this.counters.refused++;
          log.warn("closing kernel-log connection from {address}: the address no longer belongs to a machine", {
            address,
          });
          break;
        }
        if (!sameIdentity(current, identity)) {
          if (current.serverUuid !== identity.serverUuid) dedupe = this.#dedupe.machine(current.serverUuid);
          identity = current;
          formatter = new LineFormatter(annotations(identity));
          splicer = new LineSplicer(annotations(identity));
        }
        counters.bytes += n;
        lines.push(buffer.subarray(0, n));
        sink.endOfRead();
        if (n === buffer.length && n < MAX_READ_BYTES) buffer = new Uint8Array(n * 4);
        else if (n < buffer.length / 16 && buffer.length > MIN_READ_BYTES) buffer = new Uint8Array(buffer.length / 4);
      }
      lines.end();
      sink.endOfRead();
    } finally {
      this.#connections.delete(conn);
      this.counters.open--;
      closeQuietly(conn);
    }
  }
}

function sameIdentity(a: MachineIdentity, b: MachineIdentity): boolean {
  return a === b || (a.serverUuid === b.serverUuid && a.namespace === b.namespace && a.cluster === b.cluster &&
    a.metalMachine === b.metalMachine && a.machine === b.machine);
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch { /* already closed */ }
}

/**
 * Kernel-log history in the state database's `log_lines` table: batched inserts with retention, the queries
 * `logs` needs, and live subscriptions for `logs --follow`.
 *
 * Storage: each row holds a run of consecutive lines of one machine and boot (in a burst, about one read of its
 * connection; at most {@link RUN_IDS} lines), joined by `\n` (output lines never contain a raw `\n`: JSON escapes
 * it). The row's `seq` is the run's highest seq, `time_ms` its newest record time, `level` its most severe level, so
 * that the indexes still narrow queries; the lines themselves are filtered after reading. A line's id is
 * `row id × RUN_IDS + its index in the run`, so ids grow in order of receipt. Why runs: SQLite costs several µs per
 * row and index entry; one row per line measured 85,000 to 100,000 lines per second on the 2-core test machine
 * (store alone), and the whole ingest path 41,000 to 51,000; with runs the store is no longer the limit. A row of
 * one line is simply a run of one.
 *
 * Writing happens on a worker thread with its own connection (store_worker.ts): SQLite's work, and a disk that
 * stalls on a sync, never hold up the daemon's event loop, and the second core takes that work. The lines travel
 * as bytes (line_batch.ts). The worker has at most two requests (one it writes, one in its queue, so that it never
 * waits for this thread to hear of an answer); lines arriving meanwhile wait and go in the next one. A request is
 * sent when {@link BATCH_LINES} lines wait or {@link BATCH_MS} ms after the first one, or when a write is answered,
 * so lines are stored within a few tens of ms; each is one transaction. `flush` (and `close`) wait for the worker synchronously.
 *
 * Retention runs in the same transaction: per machine, whole runs are removed, oldest first, while the newer ones
 * still hold `retainLines`; so a machine keeps at least `retainLines` lines and fewer than `retainLines` + one run
 * ({@link RUN_IDS}). Age retention removes runs whose newest record is older than the limit, every
 * {@link AGE_PRUNE_EVERY_MS} ms, in bounded steps.
 *
 * Subscribers get each line as soon as its request is answered, without polling; a query answers only lines
 * subscribers have had. A failing database (a full disk, a locked or broken file, a failed worker) never stops the
 * receiver: the request is rolled back, its lines are counted as not stored, the error is logged, and subscribers
 * still get the lines (with id 0). So do lines that find more than 200,000 lines already waiting.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { logger } from "../log.ts";
import { LineBatch, type LineFields } from "./line_batch.ts";
import type { HeldLines } from "./log_table.ts";
import { levelOf, levelsAtLeast, parseRecord, recordTimeMs, TALOS_LEVELS, type TalosLevel } from "./record.ts";
import {
  CONTROL,
  HELD,
  MAX_RUNS_PER_REQUEST,
  REQUESTS_IN_FLIGHT,
  RESULT,
  RESULT_SLOT,
  type RunSpan,
  STATUS_OK,
  type StoreReply,
  type StoreRequest,
} from "./store_protocol.ts";

/** Most lines per insert transaction. */
export const BATCH_LINES = 1000;

/** Ids per row: a line's id is its row's id times this, plus its index in the row's run (runs are never longer). */
export const RUN_IDS = 1024;

/** Longest time a line waits before its batch is committed (ms). */
export const BATCH_MS = 20;

/** Default retention: lines per machine. */
export const DEFAULT_RETAIN_LINES = 5000;

/** Default retention: age by record time (30 days, in ms). */
export const DEFAULT_RETAIN_AGE_MS = 30 * 24 * 3600 * 1000;

/** How often lines older than the age limit are removed (ms). */
export const AGE_PRUNE_EVERY_MS = 60_000;

/**
 * Lines waiting for the worker beyond which receivers stop reading until it catches up ({@link LogStore.backlog}):
 * TCP then holds the machines' lines, and a `kill -9` loses at most these plus the write in progress.
 */
export const HIGH_WATER_LINES = 4 * BATCH_LINES;

/**
 * Lines waiting beyond which new lines are not stored but counted and followed: a safety net for lines already
 * read when the high-water mark was reached (one read per connection).
 */
const MAX_QUEUED_LINES = 50_000;

/**
 * How long `flush` waits for the worker before it counts the request as failed and starts a new worker. It covers
 * the worker's start too: a start takes 25-50 ms on an idle machine but up to a second with a dozen busy processes
 * per core, and a batch the limit gives up on is lost.
 */
const WORKER_TIMEOUT_MS = 30_000;

/** One line to store. */
export interface LogInput {
  /** Server UUID. */
  uuid: string;
  /** Boot key from the de-duplicator. */
  boot: string;
  /** The record's `seq`, or -1 when it had none. */
  seq: number;
  /** Record time (ms since the epoch); receipt time when the record had none. */
  timeMs: number;
  level: TalosLevel;
  /** The documented output line. */
  line: string;
}

/** A stored line. */
export interface LogRow extends LogInput {
  /**
   * Line id, growing in order of commit; 0 for a line that is not in the history (it could not be stored, or it
   * was beyond the retention limit already in its own batch), which subscribers still get.
   */
  id: number;
}

/** Which lines a query or a subscription wants; every field narrows. */
export interface LogFilter {
  /** Server UUIDs (any of them); all machines when absent. */
  uuids?: readonly string[];
  /** This level and more severe ones. */
  level?: TalosLevel;
  /** Record time at or after this (ms since the epoch). */
  sinceMs?: number;
}

/** A history query. */
export interface LogQuery extends LogFilter {
  /** Only lines with a greater id (to continue after a previous answer). */
  afterId?: number;
  /** Only the last N matching lines (still returned oldest first). */
  tail?: number;
}

/** Receives new lines, oldest first. */
export type LogListener = (rows: readonly LogRow[]) => void;

/** Retention and batching settings. */
export interface LogStoreOptions {
  /** Lines kept per machine (default 5000). */
  retainLines?: number;
  /** Age limit by record time in ms (default 30 days). */
  retainAgeMs?: number;
  /** Clock for age retention (tests). */
  now?: () => number;
  /**
   * Gets every line the store takes, stored or not, in order: whole lines, each followed by `\n` (exactly the
   * bytes of the batch), `lines` of them, valid during the call only; by {@link LogStore.passOn} at the latest.
   * The pipeline's stdout copy: one copy of a read's lines instead of one per line.
   */
  tee?: (bytes: Uint8Array, lines: number) => void;
}

/** Counters of a {@link LogStore}. */
export interface LogStoreCounters {
  /** Lines committed. */
  stored: number;
  /** Lines that could not be stored. */
  failed: number;
  /** Lines removed by retention (per-machine limit and age). */
  pruned: number;
}

const log = logger(["logs", "store"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Least time between two error reports of a failing database (ms). */
const ERROR_REPORT_EVERY_MS = 10_000;

/**
 * The kernel-log history.
 *
 * @example
 * ```ts
 * const store = new LogStore(state.db, { retainLines: 5000 });
 * store.add({ uuid, boot: "1772437743", seq: 812, timeMs, level: "info", line });
 * const stop = store.subscribe({ uuids: [uuid] }, (rows) => rows.forEach((row) => console.log(row.line)));
 * store.query({ uuids: [uuid], level: "warn", tail: 100 });
 * store.close();
 * ```
 */
export class LogStore {
  readonly counters: LogStoreCounters = { stored: 0, failed: 0, pruned: 0 };
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #retainLines: number;
  readonly #retainAgeMs: number;
  readonly #now: () => number;
  readonly #subscribers = new Set<{ filter: CompiledFilter; listener: LogListener }>();
  #batch = new LineBatch();
  /** Lines of `#batch` that `tee` has had. */
  #teed = 0;
  readonly #tee: ((bytes: Uint8Array, lines: number) => void) | undefined;
  /** Where the next line is written (see {@link LogStore.room}): the batch's buffer, or `#spill` when overloaded. */
  #target: Uint8Array;
  #spill = new Uint8Array(0);
  /** Batches written, emptied, to be filled next (see line_batch.ts). */
  readonly #spares: LineBatch[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #ageTimer: ReturnType<typeof setInterval>;
  #pruneDue = false;
  #lastAgePruned = 0;
  #worker: StoreWorker | undefined;
  /** The requests the worker has, oldest first (at most {@link REQUESTS_IN_FLIGHT}). */
  #inFlight: InFlight[] = [];
  /** The highest row id whose lines subscribers have had: queries see no further, so none gets a line twice. */
  #visibleRowId: number;
  #lastErrorReport = -Infinity;
  #unreportedFailures = 0;
  #overloadReported = false;
  #closed = false;
  /** Settles when receivers waiting on {@link LogStore.backlog} may read again. */
  #drained: PromiseWithResolvers<void> | undefined;

  /**
   * Opens the history on the state database `db` (a file: the writing is done by a worker thread with its own
   * connection to it; `db` serves the queries).
   */
  constructor(db: DatabaseSync, options: LogStoreOptions = {}) {
    const path = db.location();
    if (!path) throw new Error("the kernel-log history needs a database file, not an in-memory database");
    this.#db = db;
    this.#path = path;
    this.#retainLines = Math.max(1, options.retainLines ?? DEFAULT_RETAIN_LINES);
    this.#retainAgeMs = options.retainAgeMs ?? DEFAULT_RETAIN_AGE_MS;
    this.#now = options.now ?? Date.now;
    this.#tee = options.tee;
    this.#target = this.#batch.buffer;
    this.#visibleRowId = (db.prepare("SELECT coalesce(max(id), 0) AS id FROM log_lines").get() as { id: number }).id;
    this.#ageTimer = setInterval(() => {
      this.#pruneDue = true;
      this.#send();
    }, AGE_PRUNE_EVERY_MS);
    Deno.unrefTimer(this.#ageTimer as unknown as number);
    this.#worker = this.#startWorker();
  }

  /** Queues a line; it is written with its batch. Never throws. */
  add(input: LogInput): void {
    const at = this.room(input.line.length * 3);
    this.take(input.uuid, encoder.encodeInto(input.line, this.#target.subarray(at)).written, input);
  }

  /**
   * Makes room for a line of up to `bytes` bytes (UTF-8, no `\n`): returns where in {@link buffer} to write it,
   * straight into the batch the worker will read. Then {@link take} it, or write the next line over it.
   */
  room(bytes: number): number {
    if (this.#closed || this.#batch.count >= MAX_QUEUED_LINES) {
      if (this.#spill.length < bytes + 1) this.#spill = new Uint8Array(2 * (bytes + 1));
      this.#target = this.#spill;
      return 0;
    }
    const at = this.#batch.room(bytes);
    this.#target = this.#batch.buffer;
    return at;
  }

  /** Where lines are written; read it after {@link room}, which may replace it. */
  get buffer(): Uint8Array {
    return this.#target;
  }

  /**
   * Queues the line of machine `uuid` just written where {@link room} said (`length` bytes; nothing else of the
   * store may be called in between); it is written with its batch. Never throws.
   */
  take(uuid: string, length: number, line: LineFields): void {
    if (this.#target === this.#spill) return this.#overloaded(uuid, length, line);
    this.#batch.take(uuid, length, line);
    if (this.#batch.count < BATCH_LINES) this.#timer ??= setTimeout(() => this.#send(), BATCH_MS);
    else if (this.#inFlight.length < REQUESTS_IN_FLIGHT) this.#send(); // else the next answer sends them
  }

  /** Gives `tee` the lines taken since it last had them (the receiver's sink calls this after each read). */
  passOn(): void {
    const batch = this.#batch;
    if (this.#tee === undefined || this.#teed === batch.count) return;
    this.#tee(batch.bytes.subarray(batch.start(this.#teed)), batch.count - this.#teed);
    this.#teed = batch.count;
  }

  /**
   * While more than {@link HIGH_WATER_LINES} lines wait for the worker, a promise that settles once half of them
   * are written (or the store closes); otherwise undefined. A receiver awaits it before reading more.
   */
  backlog(): Promise<void> | undefined {
    if (this.#closed || this.#batch.count < HIGH_WATER_LINES) return undefined;
    this.#drained ??= Promise.withResolvers<void>();
    return this.#drained.promise;
  }

  /** Writes everything queued and waits for it (blocking this thread); subscribers get the lines. Never throws. */
  flush(): void {
    for (;;) {
      if (this.#inFlight.length > 0) this.#waitForWorker(); // settling may send what waited meanwhile: look again
      else if (this.#batch.count > 0 || this.#pruneDue) this.#send();
      else return;
    }
  }

  /**
   * Calls `listener` with every new matching line from now on; returns the function that stops it.
   * A query answers only lines subscribers have had already, so a `query` followed by `subscribe` in the same
   * task neither misses nor repeats a line: that is how a follower shows history and then follows.
   */
  subscribe(filter: LogFilter, listener: LogListener): () => void {
    const subscriber = { filter: compileFilter(filter), listener };
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Stored lines matching `query`, oldest first. Throws a clear error when the database cannot be read. */
  query(query: LogQuery): LogRow[] {
    const where = ["id <= ?"];
    const params: (string | number)[] = [this.#visibleRowId];
    if (query.uuids) {
      if (query.uuids.length === 0) return [];
      where.push(`uuid IN (${query.uuids.map(() => "?").join(", ")})`);
      params.push(...query.uuids);
    }
    if (query.level) {
      const levels = levelsAtLeast(query.level);
      where.push(`level IN (${levels.map(() => "?").join(", ")})`);
      params.push(...levels);
    }
    if (query.sinceMs !== undefined) {
      where.push("time_ms >= ?");
      params.push(query.sinceMs);
    }
    if (query.afterId !== undefined) {
      where.push("id >= ?");
      params.push(Math.floor(query.afterId / RUN_IDS));
    }
    const tail = query.tail === undefined ? undefined : Math.max(0, Math.floor(query.tail));
    if (tail === 0) return [];
    const sql = `SELECT id, uuid, boot, time_ms AS timeMs, line FROM log_lines WHERE ${where.join(" AND ")}` +
      (tail === undefined ? " ORDER BY id" : " ORDER BY id DESC");
    const test = compileFilter(query).test;
    const found: LogRow[] = [];
    try {
      for (const value of this.#db.prepare(sql).iterate(...params)) {
        const run = value as unknown as { id: number; uuid: string; boot: string; timeMs: number; line: string };
        const lines = run.line.split("\n");
        for (let n = 0; n < lines.length; n++) {
          const index = tail === undefined ? n : lines.length - 1 - n;
          const id = run.id * RUN_IDS + index;
          if (lines[index] === "" || (query.afterId !== undefined && id <= query.afterId)) continue;
          const row = describe(id, run, lines[index]);
          if (!test(row)) continue;
          found.push(row);
          if (found.length === tail) return found.reverse();
        }
      }
    } catch (error) {
      throw new Error(`cannot read the log history: ${(error as Error).message}`);
    }
    return tail === undefined ? found : found.reverse();
  }

  /**
   * The lines the history holds now and their bytes (UTF-8), as of the last write; undefined until the worker has
   * counted them after it started (it reads the history once to do so), and while it restarts after a failure.
   */
  held(): HeldLines | undefined {
    return this.#worker?.held();
  }

  /** The highest seq stored per machine and boot, to seed the de-duplicator at start-up. */
  lastSeqs(): { uuid: string; boot: string; maxSeq: number }[] {
    try {
      return this.#db.prepare("SELECT uuid, boot, max(seq) AS maxSeq FROM log_lines GROUP BY uuid, boot")
        .all() as unknown as { uuid: string; boot: string; maxSeq: number }[];
    } catch (error) {
      this.#reportFailure(error, 0);
      return [];
    }
  }

  /**
   * Removes runs whose newest record is older than the age limit, one bounded step, now (it also happens every
   * {@link AGE_PRUNE_EVERY_MS} ms); returns the lines removed. Blocks like {@link flush}.
   */
  pruneByAge(): number {
    this.#pruneDue = true;
    this.#lastAgePruned = 0;
    this.flush();
    return this.#lastAgePruned;
  }

  /** Writes what is queued, stops the worker and the timers. The database `db` stays open (it is the state's). */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    this.#release();
    clearTimeout(this.#timer);
    clearInterval(this.#ageTimer);
    this.#subscribers.clear();
    this.#worker?.close();
    this.#worker = undefined;
  }

  /** Lets waiting receivers read again. */
  #release(): void {
    this.#drained?.resolve();
    this.#drained = undefined;
  }

  /** Sends the queued lines (and a due age prune) to the worker, unless it has as many requests as it may. */
  #send(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#inFlight.length >= REQUESTS_IN_FLIGHT || this.#closed || (this.#batch.count === 0 && !this.#pruneDue)) {
      return;
    }
    this.passOn(); // before the batch leaves: the worker reads it from now on, and the rest moves to a new one
    const batch = this.#batch;
    const runs = consecutiveRuns(batch, MAX_RUNS_PER_REQUEST, RUN_IDS);
    const taken = runs.length === 0 ? 0 : runs[runs.length - 1].first + runs[runs.length - 1].lines;
    this.#batch = taken < batch.count ? batch.rest(taken) : this.#spares.pop() ?? new LineBatch();
    this.#teed = this.#batch.count;
    this.#target = this.#batch.buffer;
    if (this.#batch.count < HIGH_WATER_LINES / 2) this.#release();
    const spans: RunSpan[] = [];
    const written: WrittenRun[] = [];
    for (const run of runs) {
      // Lines beyond the limit already within their run would be removed at once: they are not written at all.
      const skipped = Math.max(0, run.lines - this.#retainLines);
      this.counters.pruned += skipped;
      if (skipped === run.lines) continue;
      const kept = { ...run, first: run.first + skipped, lines: run.lines - skipped };
      written.push(kept);
      spans.push(runSpan(batch, kept));
    }
    const pruneBefore = this.#pruneDue ? this.#now() - this.#retainAgeMs : undefined;
    this.#pruneDue = false;
    this.#worker ??= this.#startWorker();
    const request = this.#worker.sent;
    this.#inFlight.push({ batch, taken, runs: written, request });
    // Shared memory: the worker reads the lines in place; nothing writes to this batch until it has answered.
    const slot = request % REQUESTS_IN_FLIGHT;
    this.#worker.post({ op: "write", slot, bytes: batch.bytes, runs: spans, pruneBefore });
  }

  /** A new worker (at start, so that its start-up is out of the way of the first lines, and after a failure). */
  #startWorker(): StoreWorker {
    return new StoreWorker(
      this.#path,
      this.#retainLines,
      (reply) => this.#settle(reply),
      (error) => this.#workerFailed(error),
    );
  }

  /** Blocks until the worker answers the oldest request (or fails), then settles what is answered. */
  #waitForWorker(): void {
    if (!this.#worker?.wait(this.#inFlight[0].request + 1, WORKER_TIMEOUT_MS)) {
      this.#workerFailed(new Error(`the store's worker did not answer within ${WORKER_TIMEOUT_MS} ms`));
    }
    this.#settle();
  }

  /** Takes the worker's answers to the requests it has answered: ids, counters, subscribers; sends what waits. */
  #settle(reply?: StoreReply): void {
    if (reply?.error) this.#reportFailure(new Error(reply.error), 0);
    for (;;) {
      const inFlight = this.#inFlight[0];
      const answer = inFlight && this.#worker?.answer(inFlight.request);
      if (!answer) break;
      this.#inFlight.shift();
      this.#taken(inFlight, answer);
    }
    if (this.#batch.count > 0) this.#send();
  }

  /** The answer to one request. */
  #taken(inFlight: InFlight, answer: WriteAnswer): void {
    const ids = new Float64Array(inFlight.taken);
    if (answer.ok) {
      inFlight.runs.forEach((run, r) => {
        const rowId = answer.rowIds[r];
        for (let i = 0; i < run.lines; i++) ids[run.first + i] = rowId * RUN_IDS + i;
        this.counters.stored += run.lines;
        if (rowId > this.#visibleRowId) this.#visibleRowId = rowId;
      });
      this.counters.pruned += answer.pruned + answer.agePruned;
      this.#lastAgePruned = answer.agePruned;
    } else {
      const failed = inFlight.runs.reduce((sum, run) => sum + run.lines, 0);
      this.counters.failed += failed;
      this.#unreportedFailures += failed;
    }
    this.#deliver(() => rowsOf(inFlight.batch, inFlight.taken, ids));
    inFlight.batch.reset();
    this.#spares.push(inFlight.batch);
  }

  /** A worker that died or hangs: its requests count as failed, and the next request starts a new worker. */
  #workerFailed(error: Error): void {
    this.#worker?.close();
    this.#worker = undefined;
    const inFlight = this.#inFlight;
    this.#inFlight = [];
    let failed = 0;
    for (const request of inFlight) {
      const lines = request.runs.reduce((sum, run) => sum + run.lines, 0);
      failed += lines;
      this.counters.failed += lines;
      this.#deliver(() => rowsOf(request.batch, request.taken, new Float64Array(request.taken)));
    }
    this.#reportFailure(error, failed);
  }

  /**
   * A line the store cannot take (closed, or its queue is full because the disk is too slow), in `#spill`:
   * counted, teed, followed.
   */
  #overloaded(uuid: string, length: number, line: LineFields): void {
    this.counters.failed++;
    if (this.#tee) {
      this.passOn(); // the lines before it first
      this.#spill[length] = 0x0a;
      this.#tee(this.#spill.subarray(0, length + 1), 1);
    }
    if (!this.#overloadReported && !this.#closed) {
      this.#overloadReported = true;
      log.error("the kernel-log history cannot keep up; lines are not stored until it catches up (stdout has them)");
    }
    this.#deliver(() => {
      const { boot, seq, timeMs, level } = line;
      return [{ id: 0, uuid, boot, seq, timeMs, level, line: decoder.decode(this.#spill.subarray(0, length)) }];
    });
  }

  /** Gives subscribers their lines of `made()`, which is called only when there are subscribers. */
  #deliver(made: () => LogRow[]): void {
    if (this.#batch.count < MAX_QUEUED_LINES / 2) this.#overloadReported = false;
    if (this.#subscribers.size === 0) return;
    const rows = made();
    for (const { filter, listener } of this.#subscribers) {
      const wanted = filter.all ? rows : rows.filter(filter.test);
      if (wanted.length === 0) continue;
      try {
        listener(wanted);
      } catch (error) {
        log.error("a log subscriber failed: {error}", { error: (error as Error).message });
      }
    }
  }

  #reportFailure(error: unknown, lines: number): void {
    this.#unreportedFailures += lines;
    const now = Date.now();
    if (now - this.#lastErrorReport < ERROR_REPORT_EVERY_MS) return;
    this.#lastErrorReport = now;
    log.error("kernel-log history: {error}; {lines} lines not stored since the last report (receiving continues)", {
      error: (error as Error).message,
      lines: this.#unreportedFailures,
    });
    this.#unreportedFailures = 0;
  }
}

/** The main thread's side of the store's worker (see store_worker.ts for the protocol). */
class StoreWorker {
  readonly #worker: Worker;
  readonly #control = new Int32Array(new SharedArrayBuffer(4 * CONTROL.length));
  readonly #results = new Float64Array(new SharedArrayBuffer(8 * RESULT_SLOT * REQUESTS_IN_FLIGHT));
  readonly #held = new BigInt64Array(new SharedArrayBuffer(8 * HELD.length)).fill(-1n);
  #sent = 0;

  constructor(
    path: string,
    retainLines: number,
    onReply: (reply: StoreReply) => void,
    onFailure: (error: Error) => void,
  ) {
    this.#worker = new Worker(new URL("./store_worker.ts", import.meta.url), { type: "module" });
    this.#worker.onmessage = (event: MessageEvent<StoreReply>) => onReply(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault(); // an error in the worker must not end the daemon
      onFailure(new Error(`the store's worker failed: ${event.message}`));
    };
    this.post({
      op: "open",
      path,
      retainLines,
      control: this.#control.buffer,
      results: this.#results.buffer,
      held: this.#held.buffer,
    });
    this.#sent = 0; // "open" is not answered
  }

  /** Requests sent so far (but `open`): the number of the next one. */
  get sent(): number {
    return this.#sent;
  }

  post(request: StoreRequest): void {
    this.#worker.postMessage(request);
    this.#sent++;
  }

  /**
   * Blocks until `count` requests are answered, at most `timeoutMs` (the worker's start included); whether they were.
   */
  wait(count: number, timeoutMs: number): boolean {
    const started = performance.now();
    for (;;) {
      const done = Atomics.load(this.#control, CONTROL.answered);
      if (done >= count) return true;
      const left = started + timeoutMs - performance.now();
      if (left <= 0) return false;
      Atomics.wait(this.#control, CONTROL.answered, done, Math.min(left, 100));
    }
  }

  /** What the table holds, once the worker has counted it. */
  held(): HeldLines | undefined {
    const lines = Atomics.load(this.#held, HELD.lines);
    if (lines < 0n) return undefined;
    return { lines: Number(lines), bytes: Number(Atomics.load(this.#held, HELD.bytes)) };
  }

  /** The answer to request number `request`, when it has come (read it before sending a request more). */
  answer(request: number): WriteAnswer | undefined {
    if (Atomics.load(this.#control, CONTROL.answered) <= request) return undefined;
    const slot = (request % REQUESTS_IN_FLIGHT) * RESULT_SLOT;
    const results = this.#results.subarray(slot, slot + RESULT_SLOT);
    return {
      ok: results[RESULT.status] === STATUS_OK,
      rowIds: results.subarray(RESULT.rowIds, RESULT.rowIds + results[RESULT.runs]),
      pruned: results[RESULT.pruned],
      agePruned: results[RESULT.agePruned],
    };
  }

  /** Closes the worker's connection (waiting briefly for it) and ends the worker. */
  close(): void {
    this.post({ op: "close" });
    this.wait(this.#sent, 1000);
    this.#worker.terminate();
  }
}

/**
 * A request's lines: the batch they were taken from, how many, and the runs written (the rest were pruned); the
 * request's number.
 */
interface InFlight {
  batch: LineBatch;
  taken: number;
  runs: WrittenRun[];
  request: number;
}

/** The worker's answer to a write. */
interface WriteAnswer {
  ok: boolean;
  rowIds: Float64Array;
  pruned: number;
  agePruned: number;
}

/** A run of a batch's lines: its machine and boot, its first line and how many. */
interface WrittenRun {
  uuid: string;
  boot: string;
  first: number;
  lines: number;
}

/**
 * Splits the batch's first lines into runs of consecutive lines of one machine and boot, each at most `maxLines`
 * long, at most `maxRuns` of them.
 */
function consecutiveRuns(batch: LineBatch, maxRuns: number, maxLines: number): WrittenRun[] {
  const runs: WrittenRun[] = [];
  for (const { uuid, boot, first, end } of batch.groups()) {
    for (let at = first; at < end; at += maxLines) {
      runs.push({ uuid, boot, first: at, lines: Math.min(maxLines, end - at) });
      if (runs.length === maxRuns) return runs;
    }
  }
  return runs;
}

/** The row written for a run of the batch: where its lines are, their highest seq, newest time, most severe level. */
function runSpan(batch: LineBatch, run: WrittenRun): RunSpan {
  let seq = -1, timeMs = -Infinity, severity = TALOS_LEVELS.length - 1;
  const { seqs, times, severities } = batch;
  const { first, lines } = run;
  for (let i = first; i < first + lines; i++) {
    if (seqs[i] > seq) seq = seqs[i];
    if (times[i] > timeMs) timeMs = times[i];
    if (severities[i] < severity) severity = severities[i];
  }
  return {
    uuid: run.uuid,
    boot: run.boot,
    seq,
    timeMs,
    level: TALOS_LEVELS[severity],
    start: batch.start(first),
    end: batch.ends[first + lines - 1],
    lines,
  };
}

/** The first `count` lines of the batch as rows, with these ids. */
function rowsOf(batch: LineBatch, count: number, ids: Float64Array): LogRow[] {
  const rows: LogRow[] = [];
  for (const { uuid, boot, first, end } of batch.groups()) {
    for (let i = first; i < Math.min(end, count); i++) {
      rows.push({
        id: ids[i],
        uuid,
        boot,
        seq: batch.seqs[i],
        timeMs: batch.times[i],
        level: batch.level(i),
        line: batch.text(i),
      });
    }
  }
  return rows;
}

/** A stored line with its own seq, time and level, read from the line itself (the row holds the run's). */
function describe(id: number, run: { uuid: string; boot: string; timeMs: number }, line: string): LogRow {
  const record = parseRecord(line).record ?? {};
  return {
    id,
    uuid: run.uuid,
    boot: run.boot,
    seq: Number.isSafeInteger(record.seq) ? record.seq as number : -1,
    timeMs: recordTimeMs(record) ?? run.timeMs,
    level: levelOf(record),
    line,
  };
}

interface CompiledFilter {
  all: boolean;
  test: (row: LogRow) => boolean;
}

function compileFilter(filter: LogFilter): CompiledFilter {
  const uuids = filter.uuids ? new Set(filter.uuids) : undefined;
  const levels = filter.level ? new Set<string>(levelsAtLeast(filter.level)) : undefined;
  const since = filter.sinceMs;
  return {
    all: !uuids && !levels && since === undefined,
    test: (row) =>
      (!uuids || uuids.has(row.uuid)) && (!levels || levels.has(row.level)) &&
      (since === undefined || row.timeMs >= since),
  };
}

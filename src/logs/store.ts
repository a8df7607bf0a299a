/**
 * Kernel-log history in the state database's `log_lines` table: batched inserts with retention, the queries
 * `logs` needs, and live subscriptions for `logs --follow`.
 *
 * Writes are batched: one transaction per batch, at most {@link BATCH_LINES} lines, committed at the latest
 * {@link BATCH_MS} ms after its first line. Retention runs inside the same transaction (per machine: keep the
 * newest `retainLines`) and, for age, every {@link AGE_PRUNE_EVERY_MS} ms in bounded steps (by record time).
 * Subscribers get each line right after its batch is committed, so within about {@link BATCH_MS} ms of receipt,
 * without polling. A failing database (a full disk, a locked or broken file) never stops the receiver: the batch
 * is rolled back, its lines are counted as not stored, the error is logged, and subscribers still get the lines
 * (with id 0).
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { logger } from "../log.ts";
import { levelsAtLeast, type TalosLevel } from "./record.ts";

/** Most lines per insert transaction. */
export const BATCH_LINES = 1000;

/** Longest time a line waits before its batch is committed (ms). */
export const BATCH_MS = 20;

/** Default retention: lines per machine. */
export const DEFAULT_RETAIN_LINES = 5000;

/** Default retention: age by record time (30 days, in ms). */
export const DEFAULT_RETAIN_AGE_MS = 30 * 24 * 3600 * 1000;

/** How often lines older than the age limit are removed (ms). */
export const AGE_PRUNE_EVERY_MS = 60_000;

/** Rows removed per statement when pruning by age, so that a large backlog never blocks the daemon long. */
const AGE_PRUNE_STEP = 5000;

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
  /** Row id, increasing in order of receipt; 0 for a line delivered to subscribers that could not be stored. */
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
  readonly #retainLines: number;
  readonly #retainAgeMs: number;
  readonly #now: () => number;
  readonly #insert: StatementSync;
  readonly #count: StatementSync;
  readonly #prune: StatementSync;
  readonly #pruneAge: StatementSync;
  /** Lines per machine as far as known (filled lazily, cleared when unsure). */
  readonly #counts = new Map<string, number>();
  readonly #subscribers = new Set<{ filter: CompiledFilter; listener: LogListener }>();
  #batch: LogInput[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #ageTimer: ReturnType<typeof setInterval>;
  #lastErrorReport = -Infinity;
  #unreportedFailures = 0;

  constructor(db: DatabaseSync, options: LogStoreOptions = {}) {
    this.#db = db;
    this.#retainLines = options.retainLines ?? DEFAULT_RETAIN_LINES;
    this.#retainAgeMs = options.retainAgeMs ?? DEFAULT_RETAIN_AGE_MS;
    this.#now = options.now ?? Date.now;
    this.#insert = db.prepare(
      "INSERT INTO log_lines (uuid, boot, seq, time_ms, level, line) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#count = db.prepare("SELECT count(*) AS n FROM log_lines WHERE uuid = ?");
    this.#prune = db.prepare(
      "DELETE FROM log_lines WHERE uuid = ?1 AND id <= (SELECT id FROM log_lines WHERE uuid = ?1 ORDER BY id DESC LIMIT 1 OFFSET ?2)",
    );
    this.#pruneAge = db.prepare(
      `DELETE FROM log_lines WHERE id IN (SELECT id FROM log_lines WHERE time_ms < ? LIMIT ${AGE_PRUNE_STEP})`,
    );
    this.#ageTimer = setInterval(() => this.pruneByAge(), AGE_PRUNE_EVERY_MS);
    Deno.unrefTimer(this.#ageTimer);
  }

  /** Queues a line; it is committed with its batch. Never throws. */
  add(input: LogInput): void {
    this.#batch.push(input);
    if (this.#batch.length >= BATCH_LINES) this.flush();
    else this.#timer ??= setTimeout(() => this.flush(), BATCH_MS);
  }

  /** Commits the queued lines now and tells subscribers. Never throws. */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    const rows = this.#commit(batch);
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

  /**
   * Calls `listener` with every new matching line from now on; returns the function that stops it.
   * Queries and commits run on one thread, so a `query` followed by `subscribe` in the same task neither misses
   * nor repeats a line: that is how a follower shows history and then follows.
   */
  subscribe(filter: LogFilter, listener: LogListener): () => void {
    const subscriber = { filter: compileFilter(filter), listener };
    this.#subscribers.add(subscriber);
    return () => this.#subscribers.delete(subscriber);
  }

  /** Stored lines matching `query`, oldest first. Throws a clear error when the database cannot be read. */
  query(query: LogQuery): LogRow[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
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
      where.push("id > ?");
      params.push(query.afterId);
    }
    const tail = query.tail !== undefined;
    const sql = "SELECT id, uuid, boot, seq, time_ms AS timeMs, level, line FROM log_lines" +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
      (tail ? " ORDER BY id DESC LIMIT ?" : " ORDER BY id");
    if (tail) params.push(Math.max(0, Math.floor(query.tail!)));
    let rows: LogRow[];
    try {
      rows = this.#db.prepare(sql).all(...params) as unknown as LogRow[];
    } catch (error) {
      throw new Error(`cannot read the log history: ${(error as Error).message}`);
    }
    return tail ? rows.reverse() : rows;
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

  /** Removes lines older than the age limit (by record time), one bounded step; returns how many. */
  pruneByAge(): number {
    try {
      const removed = Number(this.#pruneAge.run(this.#now() - this.#retainAgeMs).changes);
      if (removed > 0) {
        this.counters.pruned += removed;
        this.#counts.clear();
      }
      return removed;
    } catch (error) {
      this.#reportFailure(error, 0);
      return 0;
    }
  }

  /** Commits what is queued and stops the timers. The database stays open (it belongs to the state). */
  close(): void {
    this.flush();
    clearInterval(this.#ageTimer);
    this.#subscribers.clear();
  }

  #commit(batch: LogInput[]): LogRow[] {
    const rows = batch as LogRow[];
    const db = this.#db;
    try {
      db.exec("BEGIN IMMEDIATE");
      const added = new Map<string, number>();
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i];
        row.id = Number(this.#insert.run(row.uuid, row.boot, row.seq, row.timeMs, row.level, row.line).lastInsertRowid);
        added.set(row.uuid, (added.get(row.uuid) ?? 0) + 1);
      }
      for (const [uuid, n] of added) this.#retain(uuid, n);
      db.exec("COMMIT");
      this.counters.stored += rows.length;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      this.#counts.clear();
      for (const row of rows) row.id = 0;
      this.counters.failed += rows.length;
      this.#reportFailure(error, rows.length);
    }
    return rows;
  }

  /** Keeps the newest `retainLines` lines of a machine that just got `added` more. */
  #retain(uuid: string, added: number): void {
    let count = this.#counts.get(uuid);
    count = count === undefined ? (this.#count.get(uuid) as { n: number }).n : count + added;
    if (count > this.#retainLines) {
      const removed = Number(this.#prune.run(uuid, this.#retainLines).changes);
      this.counters.pruned += removed;
      count -= removed;
    }
    this.#counts.set(uuid, count);
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

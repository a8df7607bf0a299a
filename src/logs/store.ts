/**
 * Kernel-log history in the state database's `log_lines` table: batched inserts with retention, the queries
 * `logs` needs, and live subscriptions for `logs --follow`.
 *
 * Storage: each row holds a run of consecutive lines of one machine and boot within one batch (in a burst, about
 * one read of its connection), joined by `\n` (output lines never contain a raw `\n`: JSON escapes it). The row's `seq` is the run's highest seq,
 * `time_ms` its newest record time, `level` its most severe level, so that the indexes still narrow queries; the
 * lines themselves are filtered after reading. A line's id is `row id × RUN_IDS + its index in the run`, so ids
 * still grow in order of commit. Why runs: SQLite here costs several µs per row and index entry (about 90,000
 * one-line rows per second on the 2-core test machine, half that with retention deleting as much as is added),
 * far below the receive path; a row per run makes the store's cost per line negligible. A row of one line (as an
 * older version wrote) is a run of one.
 *
 * Writes are batched: one transaction per batch, at most {@link BATCH_LINES} lines, committed at the latest
 * {@link BATCH_MS} ms after its first line. Retention runs inside the same transaction: per machine, whole runs
 * are removed, oldest first, while the newer ones still hold `retainLines`; so a machine keeps at least
 * `retainLines` lines and fewer than `retainLines` + one batch. Age retention removes runs whose newest record is
 * older than the limit, every {@link AGE_PRUNE_EVERY_MS} ms, in bounded steps.
 * Subscribers get each line right after its batch is committed, so within about {@link BATCH_MS} ms of receipt,
 * without polling. A failing database (a full disk, a locked or broken file) never stops the receiver: the batch
 * is rolled back, its lines are counted as not stored, the error is logged, and subscribers still get the lines
 * (with id 0).
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";
import { logger } from "../log.ts";
import { levelOf, levelsAtLeast, parseRecord, recordTimeMs, TALOS_LEVELS, type TalosLevel } from "./record.ts";

/** Most lines per insert transaction. */
export const BATCH_LINES = 1000;

/** Ids per row: a line's id is its row's id times this, plus its index in the row's run (> BATCH_LINES). */
export const RUN_IDS = 1024;

/** Longest time a line waits before its batch is committed (ms). */
export const BATCH_MS = 20;

/** Default retention: lines per machine. */
export const DEFAULT_RETAIN_LINES = 5000;

/** Default retention: age by record time (30 days, in ms). */
export const DEFAULT_RETAIN_AGE_MS = 30 * 24 * 3600 * 1000;

/** How often lines older than the age limit are removed (ms). */
export const AGE_PRUNE_EVERY_MS = 60_000;

/** WAL pages between automatic checkpoints on the store's connection. */
const WAL_CHECKPOINT_PAGES = 8192;

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
  readonly #runsOf: StatementSync;
  readonly #deleteRun: StatementSync;
  readonly #pruneAge: StatementSync;
  /** The stored runs of each machine, oldest first, as far as known (loaded lazily, cleared when unsure). */
  readonly #runs = new Map<string, { runs: { id: number; lines: number }[]; lines: number }>();
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
    // A checkpoint (copying the WAL into the database) syncs the disk twice; at SQLite's default of every 1000
    // pages (4 MiB) those syncs cost more than the inserts in a burst of logs. Every 8192 pages (32 MiB of WAL)
    // measured 1.5 to 2 times the store's rate here. It is a setting of this connection only.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    this.#insert = db.prepare(
      "INSERT INTO log_lines (uuid, boot, seq, time_ms, level, line) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#runsOf = db.prepare(`SELECT id, ${LINES_IN_ROW} AS lines FROM log_lines WHERE uuid = ? ORDER BY id`);
    this.#deleteRun = db.prepare("DELETE FROM log_lines WHERE id = ?");
    this.#pruneAge = db.prepare(
      `DELETE FROM log_lines WHERE id IN (SELECT id FROM log_lines WHERE time_ms < ? LIMIT ${AGE_PRUNE_STEP}) ` +
        `RETURNING ${LINES_IN_ROW} AS lines`,
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
      where.push("id >= ?");
      params.push(Math.floor(query.afterId / RUN_IDS));
    }
    const tail = query.tail === undefined ? undefined : Math.max(0, Math.floor(query.tail));
    if (tail === 0) return [];
    const sql = "SELECT id, uuid, boot, time_ms AS timeMs, line FROM log_lines" +
      (where.length > 0 ? ` WHERE ${where.join(" AND ")}` : "") +
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

  /** Removes runs whose newest record is older than the age limit, one bounded step; returns the lines removed. */
  pruneByAge(): number {
    try {
      const runs = this.#pruneAge.all(this.#now() - this.#retainAgeMs) as unknown as { lines: number }[];
      const removed = runs.reduce((sum, run) => sum + run.lines, 0);
      if (removed > 0) {
        this.counters.pruned += removed;
        this.#runs.clear();
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
    // Runs of consecutive lines of one machine and boot, so that ids keep the order of receipt across machines.
    const runs: LogRow[][] = [];
    let run: LogRow[] = [];
    for (const row of rows) {
      if (run.length > 0 && (run[0].uuid !== row.uuid || run[0].boot !== row.boot)) {
        runs.push(run);
        run = [];
      }
      run.push(row);
    }
    runs.push(run);
    const db = this.#db;
    const tally = { stored: 0, pruned: 0 };
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const run of runs) this.#store(run, tally);
      db.exec("COMMIT");
      this.counters.stored += tally.stored;
      this.counters.pruned += tally.pruned;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      this.#runs.clear();
      for (const row of rows) row.id = 0;
      this.counters.failed += rows.length;
      this.#reportFailure(error, rows.length);
    }
    return rows;
  }

  /** Inserts one run of a machine and boot, then applies the machine's line limit. */
  #store(run: LogRow[], tally: { stored: number; pruned: number }): void {
    // Lines beyond the limit already within this run would be removed at once: they are not written at all.
    const skipped = Math.max(0, run.length - this.#retainLines);
    let seq = -1, timeMs = -Infinity, severity = TALOS_LEVELS.length - 1;
    const lines: string[] = [];
    for (let i = skipped; i < run.length; i++) {
      const row = run[i];
      if (row.seq > seq) seq = row.seq;
      if (row.timeMs > timeMs) timeMs = row.timeMs;
      const rank = SEVERITY[row.level];
      if (rank < severity) severity = rank;
      lines.push(row.line);
    }
    for (let i = 0; i < skipped; i++) run[i].id = 0;
    tally.pruned += skipped;
    if (lines.length === 0) return;
    const { uuid, boot } = run[0];
    const id = Number(
      this.#insert.run(uuid, boot, seq, timeMs, TALOS_LEVELS[severity], lines.join("\n")).lastInsertRowid,
    );
    for (let i = skipped; i < run.length; i++) run[i].id = id * RUN_IDS + i - skipped;
    tally.stored += lines.length;

    let machine = this.#runs.get(uuid);
    if (machine) {
      machine.runs.push({ id, lines: lines.length });
      machine.lines += lines.length;
    } else {
      // Loaded inside the transaction, so it includes the run just written.
      const stored = this.#runsOf.all(uuid) as unknown as { id: number; lines: number }[];
      machine = { runs: stored, lines: stored.reduce((sum, row) => sum + row.lines, 0) };
      this.#runs.set(uuid, machine);
    }
    while (machine.runs.length > 1 && machine.lines - machine.runs[0].lines >= this.#retainLines) {
      const oldest = machine.runs.shift()!;
      this.#deleteRun.run(oldest.id);
      machine.lines -= oldest.lines;
      tally.pruned += oldest.lines;
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

/** SQL for the number of lines in a row's run. */
const LINES_IN_ROW = "length(line) - length(replace(line, char(10), '')) + 1";

/** Rank of each level, 0 the most severe. */
const SEVERITY: Readonly<Record<TalosLevel, number>> = { error: 0, warn: 1, info: 2, debug: 3 };

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

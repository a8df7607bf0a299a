/**
 * The writing side of the kernel-log history: runs of lines into the `log_lines` table, with retention. It runs
 * on the store's worker thread (store_worker.ts) with a connection of its own; store.ts explains the layout.
 *
 * @module
 */

import type { DatabaseSync, StatementSync } from "node:sqlite";

/** One run to write: consecutive lines of one machine and boot, with the aggregates its row keeps. */
export interface RunInput {
  uuid: string;
  boot: string;
  /** Highest seq in the run (-1 when none had one). */
  seq: number;
  /** Newest record time in the run (ms since the epoch). */
  timeMs: number;
  /** Most severe level in the run. */
  level: string;
  /** The lines joined by `\n`. */
  text: string;
  /** How many lines `text` holds. */
  lines: number;
}

/** What one write did. */
export interface WriteResult {
  /** The row id of each run, in order. */
  rowIds: number[];
  /** Lines removed by the per-machine limit. */
  pruned: number;
}

/** SQL for the number of lines in a row's run. */
export const LINES_IN_ROW = "length(line) - length(replace(line, char(10), '')) + 1";

/** WAL pages between automatic checkpoints on the writing connection. */
const WAL_CHECKPOINT_PAGES = 8192;

/** Rows removed per statement when pruning by age, so that a large backlog never holds the lock long. */
const AGE_PRUNE_STEP = 5000;

/**
 * Writes runs and applies retention. Not thread-safe; one per connection.
 *
 * @example
 * ```ts
 * const table = new LogTable(db, 5000);
 * table.write([{ uuid, boot: "1772439343", seq: 812, timeMs, level: "info", text: line, lines: 1 }]);
 * ```
 */
export class LogTable {
  readonly #db: DatabaseSync;
  readonly #retainLines: number;
  readonly #insert: StatementSync;
  readonly #runsOf: StatementSync;
  readonly #deleteRun: StatementSync;
  readonly #pruneAge: StatementSync;
  /** The stored runs of each machine, oldest first, as far as known (loaded lazily, cleared when unsure). */
  readonly #machines = new Map<string, { runs: { id: number; lines: number }[]; lines: number }>();

  constructor(db: DatabaseSync, retainLines: number) {
    this.#db = db;
    this.#retainLines = retainLines;
    // A checkpoint (copying the WAL into the database) syncs the disk twice; at SQLite's default of every 1000
    // pages (4 MiB) those syncs cost more than the inserts in a burst of logs. Every 8192 pages (32 MiB of WAL)
    // measured 1.5 to 2 times the store's rate here.
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
  }

  /**
   * Writes the runs in one transaction, then removes each machine's oldest runs while the newer ones still hold
   * the line limit. Throws (after rolling back) when the database fails.
   */
  write(runs: readonly RunInput[]): WriteResult {
    const result: WriteResult = { rowIds: [], pruned: 0 };
    if (runs.length === 0) return result;
    const db = this.#db;
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const run of runs) {
        const id = Number(
          this.#insert.run(run.uuid, run.boot, run.seq, run.timeMs, run.level, run.text).lastInsertRowid,
        );
        result.rowIds.push(id);
        result.pruned += this.#retain(run.uuid, id, run.lines);
      }
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      this.#machines.clear();
      throw error;
    }
  }

  /** Removes runs whose newest record is older than `cutoffMs`, one bounded step; returns the lines removed. */
  pruneByAge(cutoffMs: number): number {
    const runs = this.#pruneAge.all(cutoffMs) as unknown as { lines: number }[];
    if (runs.length > 0) this.#machines.clear();
    return runs.reduce((sum, run) => sum + run.lines, 0);
  }

  /** Records a new run of a machine and removes its runs beyond the limit; returns the lines removed. */
  #retain(uuid: string, id: number, lines: number): number {
    let machine = this.#machines.get(uuid);
    if (machine) {
      machine.runs.push({ id, lines });
      machine.lines += lines;
    } else {
      // Loaded inside the transaction, so it includes the run just written.
      const runs = this.#runsOf.all(uuid) as unknown as { id: number; lines: number }[];
      machine = { runs, lines: runs.reduce((sum, run) => sum + run.lines, 0) };
      this.#machines.set(uuid, machine);
    }
    let removed = 0;
    while (machine.runs.length > 1 && machine.lines - machine.runs[0].lines >= this.#retainLines) {
      const oldest = machine.runs.shift()!;
      this.#deleteRun.run(oldest.id);
      machine.lines -= oldest.lines;
      removed += oldest.lines;
    }
    return removed;
  }
}

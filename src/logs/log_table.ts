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
  /** The lines joined by `\n`, as text or as its UTF-8 bytes (stored as text all the same). */
  text: string | Uint8Array;
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

/** SQL for the bytes of a row's run (UTF-8, with the `\n` between its lines). */
const BYTES_IN_ROW = "octet_length(line)";

/** What the table holds: lines and their bytes. */
export interface HeldLines {
  lines: number;
  bytes: number;
}

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
  readonly #machines = new Map<string, { runs: { id: number; lines: number; bytes: number }[]; lines: number }>();
  /** What the whole table holds: counted once when opened, then kept up to date by every write and removal. */
  #held: HeldLines;

  constructor(db: DatabaseSync, retainLines: number) {
    this.#db = db;
    this.#retainLines = retainLines;
    // A checkpoint (copying the WAL into the database) syncs the disk twice; at SQLite's default of every 1000
    // pages (4 MiB) those syncs cost more than the inserts in a burst of logs. Every 8192 pages (32 MiB of WAL)
    // measured 1.5 to 2 times the store's rate here.
    db.exec(`PRAGMA wal_autocheckpoint = ${WAL_CHECKPOINT_PAGES}`);
    this.#insert = db.prepare(
      // UTF-8 bytes bound as a blob become text by the cast, without a conversion on either side.
      "INSERT INTO log_lines (uuid, boot, seq, time_ms, level, line) VALUES (?, ?, ?, ?, ?, CAST(? AS TEXT)) " +
        `RETURNING id, ${BYTES_IN_ROW} AS bytes`,
    );
    this.#runsOf = db.prepare(
      `SELECT id, ${LINES_IN_ROW} AS lines, ${BYTES_IN_ROW} AS bytes FROM log_lines WHERE uuid = ? ORDER BY id`,
    );
    this.#deleteRun = db.prepare("DELETE FROM log_lines WHERE id = ?");
    this.#pruneAge = db.prepare(
      `DELETE FROM log_lines WHERE id IN (SELECT id FROM log_lines WHERE time_ms < ? LIMIT ${AGE_PRUNE_STEP}) ` +
        `RETURNING ${LINES_IN_ROW} AS lines, ${BYTES_IN_ROW} AS bytes`,
    );
    // One pass over the history when the worker starts (off the daemon's event loop), so that the metrics can say
    // what it holds without reading it again.
    this.#held = db.prepare(
      `SELECT coalesce(sum(${LINES_IN_ROW}), 0) AS lines, coalesce(sum(${BYTES_IN_ROW}), 0) AS bytes FROM log_lines`,
    ).get() as unknown as HeldLines;
  }

  /** The lines (and their bytes) the table holds now. */
  get held(): HeldLines {
    return { lines: this.#held.lines, bytes: this.#held.bytes };
  }

  /**
   * Writes the runs in one transaction, then removes each machine's oldest runs while the newer ones still hold
   * the line limit. Throws (after rolling back) when the database fails.
   */
  write(runs: readonly RunInput[]): WriteResult {
    const result: WriteResult = { rowIds: [], pruned: 0 };
    if (runs.length === 0) return result;
    const db = this.#db;
    const heldBefore = this.held;
    try {
      db.exec("BEGIN IMMEDIATE");
      for (const run of runs) {
        const { id, bytes } = this.#insert.get(run.uuid, run.boot, run.seq, run.timeMs, run.level, run.text) as {
          id: number;
          bytes: number;
        };
        this.#held.lines += run.lines;
        this.#held.bytes += bytes;
        result.rowIds.push(id);
        result.pruned += this.#retain(run.uuid, { id, lines: run.lines, bytes });
      }
      db.exec("COMMIT");
      return result;
    } catch (error) {
      if (db.isTransaction) db.exec("ROLLBACK");
      this.#machines.clear();
      this.#held = heldBefore;
      throw error;
    }
  }

  /** Removes runs whose newest record is older than `cutoffMs`, one bounded step; returns the lines removed. */
  pruneByAge(cutoffMs: number): number {
    const runs = this.#pruneAge.all(cutoffMs) as unknown as HeldLines[];
    if (runs.length > 0) this.#machines.clear();
    let lines = 0;
    for (const run of runs) {
      lines += run.lines;
      this.#held.bytes -= run.bytes;
    }
    this.#held.lines -= lines;
    return lines;
  }

  /** Records a new run of a machine and removes its runs beyond the limit; returns the lines removed. */
  #retain(uuid: string, run: { id: number; lines: number; bytes: number }): number {
    let machine = this.#machines.get(uuid);
    if (machine) {
      machine.runs.push(run);
      machine.lines += run.lines;
    } else {
      // Loaded inside the transaction, so it includes the run just written.
      const runs = this.#runsOf.all(uuid) as unknown as { id: number; lines: number; bytes: number }[];
      machine = { runs, lines: runs.reduce((sum, run) => sum + run.lines, 0) };
      this.#machines.set(uuid, machine);
    }
    let removed = 0;
    while (machine.runs.length > 1 && machine.lines - machine.runs[0].lines >= this.#retainLines) {
      const oldest = machine.runs.shift()!;
      this.#deleteRun.run(oldest.id);
      machine.lines -= oldest.lines;
      removed += oldest.lines;
      this.#held.lines -= oldest.lines;
      this.#held.bytes -= oldest.bytes;
    }
    return removed;
  }
}

/**
 * The log store's worker thread: it owns a connection of its own to the state database and does the writing
 * (store.ts sends it one request at a time), so that SQLite's work, and a disk that stalls on a sync, never hold
 * up the daemon's event loop, and a second core can take that work.
 *
 * Protocol (store.ts is the other side). Requests by `postMessage`: `open` (once), then `write` and finally
 * `close`. Each request is answered in shared memory, so that the main thread can also wait for it synchronously
 * (`Atomics.wait`): the results array is filled (see {@link RESULT}), then the control counter (requests done)
 * is raised and notified; a message follows, carrying the error text of a failed request, which also wakes an
 * asynchronous main thread.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { LogTable, type RunInput } from "./log_table.ts";

/** Offsets in the results array; the row ids of the runs follow from {@link RESULT.rowIds}. */
export const RESULT = { status: 0, pruned: 1, agePruned: 2, runs: 3, rowIds: 4 } as const;

/** Result status values. */
export const STATUS_OK = 1, STATUS_FAILED = 2;

/** Most runs in one request (the results array holds one row id each). */
export const MAX_RUNS_PER_REQUEST = 16_384;

/** How long the worker's connection waits for another writer's lock (as the state's own connection does). */
const BUSY_TIMEOUT_MS = 10_000;

/** A request to the worker. */
export type StoreRequest =
  | { op: "open"; path: string; retainLines: number; control: SharedArrayBuffer; results: SharedArrayBuffer }
  | { op: "write"; runs: RunInput[]; pruneBefore?: number }
  | { op: "close" };

/** The message that follows each answer. */
export interface StoreReply {
  error?: string;
}

interface WorkerScope {
  onmessage: ((event: MessageEvent<StoreRequest>) => void) | null;
  postMessage(message: StoreReply): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let control: Int32Array;
let results: Float64Array;
let db: DatabaseSync | undefined;
let table: LogTable | undefined;
let openError: string | undefined;

scope.onmessage = ({ data: request }) => {
  if (request.op === "open") {
    control = new Int32Array(request.control);
    results = new Float64Array(request.results);
    try {
      db = new DatabaseSync(request.path, { timeout: BUSY_TIMEOUT_MS });
      db.exec("PRAGMA synchronous = NORMAL"); // as the state's connection: with WAL, syncs only at checkpoints
      table = new LogTable(db, request.retainLines);
    } catch (error) {
      openError = `cannot open ${request.path}: ${(error as Error).message}`;
    }
    return;
  }
  if (request.op === "close") {
    db?.close();
    answer(STATUS_OK);
    scope.close();
    return;
  }
  results.fill(0, 0, RESULT.rowIds);
  if (!table) return answer(STATUS_FAILED, openError);
  try {
    const written = table.write(request.runs);
    results.set(written.rowIds, RESULT.rowIds);
    results[RESULT.runs] = written.rowIds.length;
    results[RESULT.pruned] = written.pruned;
  } catch (error) {
    return answer(STATUS_FAILED, (error as Error).message);
  }
  // The lines are stored whatever happens here; a failure is only reported.
  let ageError: string | undefined;
  if (request.pruneBefore !== undefined) {
    try {
      results[RESULT.agePruned] = table.pruneByAge(request.pruneBefore);
    } catch (error) {
      ageError = `age retention: ${(error as Error).message}`;
    }
  }
  answer(STATUS_OK, ageError);
};

function answer(status: number, error?: string): void {
  results[RESULT.status] = status;
  Atomics.add(control, 0, 1);
  Atomics.notify(control, 0);
  scope.postMessage(error === undefined ? {} : { error });
}

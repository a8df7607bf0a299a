/**
 * The log store's worker thread: it owns a connection of its own to the state database and does the writing
 * (store.ts sends it requests, at most two at a time), so that SQLite's work, and a disk that stalls on a sync, never hold
 * up the daemon's event loop, and a second core can take that work.
 *
 * The protocol is in store_protocol.ts; store.ts is the other side.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { LogTable } from "./log_table.ts";
import {
  CONTROL,
  HELD,
  RESULT,
  RESULT_SLOT,
  STATUS_FAILED,
  STATUS_OK,
  type StoreReply,
  type StoreRequest,
} from "./store_protocol.ts";

/** How long the worker's connection waits for another writer's lock (as the state's own connection does). */
const BUSY_TIMEOUT_MS = 10_000;

interface WorkerScope {
  onmessage: ((event: MessageEvent<StoreRequest>) => void) | null;
  postMessage(message: StoreReply): void;
  close(): void;
}

const scope = globalThis as unknown as WorkerScope;
let control: Int32Array;
let allResults: Float64Array;
let held: BigInt64Array;
let db: DatabaseSync | undefined;
let table: LogTable | undefined;
let openError: string | undefined;

scope.onmessage = ({ data: request }) => {
  if (request.op === "open") {
    control = new Int32Array(request.control);
    allResults = new Float64Array(request.results);
    held = new BigInt64Array(request.held);
    try {
      db = new DatabaseSync(request.path, { timeout: BUSY_TIMEOUT_MS });
      db.exec("PRAGMA synchronous = NORMAL"); // as the state's connection: with WAL, syncs only at checkpoints
      table = new LogTable(db, request.retainLines);
      publishHeld();
    } catch (error) {
      openError = `cannot open ${request.path}: ${(error as Error).message}`;
    }
    return;
  }
  if (request.op === "close") {
    db?.close();
    answer();
    scope.close();
    return;
  }
  const results = allResults.subarray(request.slot * RESULT_SLOT, (request.slot + 1) * RESULT_SLOT);
  results.fill(0, 0, RESULT.rowIds);
  if (!table) return answer(results, STATUS_FAILED, openError);
  try {
    const { bytes } = request;
    const written = table.write(
      request.runs.map((run) => ({ ...run, text: bytes.subarray(run.start, run.end) })),
    );
    results.set(written.rowIds, RESULT.rowIds);
    results[RESULT.runs] = written.rowIds.length;
    results[RESULT.pruned] = written.pruned;
  } catch (error) {
    return answer(results, STATUS_FAILED, (error as Error).message);
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
  answer(results, STATUS_OK, ageError);
};

/** Shows the main thread what the table holds now. */
function publishHeld(): void {
  const { lines, bytes } = table!.held;
  Atomics.store(held, HELD.lines, BigInt(lines));
  Atomics.store(held, HELD.bytes, BigInt(bytes));
}

/** Answers the request whose slot of the results array is `results` (none for `close`). */
function answer(results?: Float64Array, status?: number, error?: string): void {
  if (table) publishHeld();
  if (results) results[RESULT.status] = status!;
  Atomics.add(control, CONTROL.answered, 1);
  Atomics.notify(control, CONTROL.answered);
  scope.postMessage(error === undefined ? {} : { error });
}

/**
 * The protocol between the log store (store.ts, main thread) and its worker (store_worker.ts).
 *
 * Requests go by `postMessage`: `open` (once), then `write` requests, at most {@link REQUESTS_IN_FLIGHT} at a time
 * (the next one waits in the worker's queue while it writes, so that it never waits for the main thread to hear
 * of an answer), and finally `close`. Each request but `open` is answered in shared memory, in order, so that the
 * main thread can also wait for it synchronously (`Atomics.wait`): the write's slot of the results array is filled
 * (see {@link RESULT}), then the control counter of requests answered
 * (see {@link CONTROL}) is raised and notified; a message follows, carrying the error text of a failed request, which also wakes an
 * asynchronous main thread. What the table holds (see {@link HELD}) is in shared memory too, updated before each
 * answer, so that the main thread can read it at any time.
 *
 * @module
 */

import type { RunInput } from "./log_table.ts";

/** Slots of the control array: requests answered so far. */
export const CONTROL = { answered: 0, length: 1 } as const;

/** Offsets in the results array; the row ids of the runs follow from {@link RESULT.rowIds}. */
export const RESULT = { status: 0, pruned: 1, agePruned: 2, runs: 3, rowIds: 4 } as const;

/** Slots of the held array (a `BigInt64Array`): lines and bytes in the table; -1 until the worker counted them. */
export const HELD = { lines: 0, bytes: 1, length: 2 } as const;

/** Result status values. */
export const STATUS_OK = 1, STATUS_FAILED = 2;

/** Most runs in one request (the results array holds one row id each). */
export const MAX_RUNS_PER_REQUEST = 16_384;

/** Write requests the worker may have at once; each has its own slot of the results array. */
export const REQUESTS_IN_FLIGHT = 2;

/** Numbers per slot of the results array. */
export const RESULT_SLOT = RESULT.rowIds + MAX_RUNS_PER_REQUEST;

/** A request to the worker. */
export type StoreRequest =
  | {
    op: "open";
    path: string;
    retainLines: number;
    control: SharedArrayBuffer;
    results: SharedArrayBuffer;
    held: SharedArrayBuffer;
  }
  | { op: "write"; slot: number; bytes: Uint8Array; runs: RunSpan[]; pruneBefore?: number }
  | { op: "close" };

/** A run to write, as a span of the request's `bytes` (its lines joined by `\n`) and the fields of its row. */
export type RunSpan = Omit<RunInput, "text"> & { start: number; end: number };

/** The message that follows each answer. */
export interface StoreReply {
  error?: string;
}

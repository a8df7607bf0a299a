/**
 * Event history and per-machine status in the state database: the `events` table (one row per machine and
 * event id, which makes handling idempotent) and the status columns of `machines`.
 *
 * @module
 */

import type { SqliteState } from "../state/sqlite.ts";
import { logger } from "../log.ts";
import type { Condition } from "./status.ts";

/**
 * Default number of events kept per machine. It must stay well above the 990 events Talos buffers and
 * replays on first contact: a pruned id that came again would be applied a second time.
 */
export const DEFAULT_EVENTS_PER_MACHINE = 5000;

/** A machine's status as events reported it; fields no event has set yet are absent. */
export interface MachineEventStatus {
  hostname?: string;
  addresses?: string[];
  stage?: string;
  ready?: boolean;
  conditions: Condition[];
  /** When an event last changed any of this (ISO 8601). */
  updatedAt?: string;
}

/** The status fields one event changes. */
export type StatusChange = Partial<Omit<MachineEventStatus, "updatedAt">>;

/** Computes an event's status change from the stored status. */
export type StatusUpdate = (current: MachineEventStatus) => StatusChange;

/** One event as the history keeps it. */
export interface StoredEvent {
  id: string;
  receivedAt: Date;
  typeUrl: string;
  /** The printed event line. */
  line: string;
}

interface StatusRow {
  hostname: string | null;
  addresses: string | null;
  stage: string | null;
  ready: number | null;
  conditions: string | null;
  status_updated_at: string | null;
}

const log = logger(["events"]);

/**
 * The event sink's view of the state database.
 *
 * @example
 * ```ts
 * const store = new EventStore(state);
 * store.record(uuid, { id, receivedAt, typeUrl, line }, () => ({ stage: "RUNNING" }));
 * ```
 */
export class EventStore {
  readonly #state: SqliteState;
  readonly #eventsPerMachine: number;
  readonly #statements: ReturnType<typeof prepare>;
  /** Events recorded per machine since its history was last pruned. */
  readonly #sincePrune = new Map<string, number>();

  constructor(state: SqliteState, options: { eventsPerMachine?: number } = {}) {
    this.#state = state;
    this.#eventsPerMachine = options.eventsPerMachine ?? DEFAULT_EVENTS_PER_MACHINE;
    this.#statements = state.query(() => prepare(state.db));
  }

  /**
   * Stores an event and applies its status update, in one transaction, unless the machine already has an event
   * with this id. `update` sees the status as stored.
   *
   * @returns false when the id was already recorded (nothing changed).
   */
  record(uuid: string, event: StoredEvent, update?: StatusUpdate): boolean {
    const statements = this.#statements;
    return this.#state.query(() => {
      // A replay (up to 990 events from every machine after a restart) is answered without taking the write lock.
      if (statements.exists.get(uuid, event.id)) return false;
      return this.#state.inTransaction(() => {
        const inserted = statements.insert.run(
          uuid,
          event.id,
          event.receivedAt.toISOString(),
          event.typeUrl,
          event.line,
        );
        if (inserted.changes === 0) return false;
        this.#prune(uuid);
        const change = update?.(this.status(uuid) ?? { conditions: [] });
        if (change && Object.keys(change).length > 0) this.#update(uuid, change, event.receivedAt);
        return true;
      });
    });
  }

  /** Whether the machine already has an event with this id. */
  has(uuid: string, id: string): boolean {
    return this.#state.query(() => this.#statements.exists.get(uuid, id) !== undefined);
  }

  /** A machine's stored status, or `undefined` when there is no machine with this UUID. */
  status(uuid: string): MachineEventStatus | undefined {
    const row = this.#state.query(() => this.#statements.status.get(uuid) as StatusRow | undefined);
    if (!row) return undefined;
    const status: MachineEventStatus = { conditions: parseJson(uuid, "conditions", row.conditions) ?? [] };
    if (row.hostname !== null) status.hostname = row.hostname;
    const addresses = parseJson<string[]>(uuid, "addresses", row.addresses);
    if (addresses) status.addresses = addresses;
    if (row.stage !== null) status.stage = row.stage;
    if (row.ready !== null) status.ready = row.ready !== 0;
    if (row.status_updated_at !== null) status.updatedAt = row.status_updated_at;
    return status;
  }

  /** A machine's stored events, oldest id first. */
  events(uuid: string): StoredEvent[] {
    const rows = this.#state.query(() => this.#statements.events.all(uuid)) as {
      id: string;
      received_at: string;
      type: string;
      line: string;
    }[];
    return rows.map((row) => ({
      id: row.id,
      receivedAt: new Date(row.received_at),
      typeUrl: row.type,
      line: row.line,
    }));
  }

  #update(uuid: string, change: StatusChange, at: Date): void {
    const columns: [string, string | number | null][] = [];
    if (change.hostname !== undefined) columns.push(["hostname", change.hostname]);
    if (change.addresses !== undefined) columns.push(["addresses", JSON.stringify(change.addresses)]);
    if (change.stage !== undefined) columns.push(["stage", change.stage]);
    if (change.ready !== undefined) columns.push(["ready", change.ready ? 1 : 0]);
    if (change.conditions !== undefined) columns.push(["conditions", JSON.stringify(change.conditions)]);
    columns.push(["status_updated_at", at.toISOString()]);
    const assignments = columns.map(([name]) => `${name} = ?`).join(", ");
    this.#state.statement(`UPDATE machines SET ${assignments} WHERE uuid = ?`)
      .run(...columns.map(([, value]) => value), uuid);
  }

  /**
   * Keeps the newest events of a machine (xids sort by time, so the highest ids are the newest). It runs every
   * {@link PRUNE_EVERY} events of a machine, as finding the cut-off walks the whole retained history.
   */
  #prune(uuid: string): void {
    const count = (this.#sincePrune.get(uuid) ?? 0) + 1;
    if (count < PRUNE_EVERY) {
      this.#sincePrune.set(uuid, count);
      return;
    }
    this.#sincePrune.delete(uuid);
    this.#statements.prune.run(uuid, uuid, this.#eventsPerMachine - 1);
  }
}

/** How many events a machine records between two prunings of its history (which may exceed the limit by this). */
export const PRUNE_EVERY = 64;

function prepare(db: SqliteState["db"]) {
  return {
    exists: db.prepare("SELECT 1 FROM events WHERE uuid = ? AND id = ?"),
    insert: db.prepare("INSERT OR IGNORE INTO events (uuid, id, received_at, type, line) VALUES (?, ?, ?, ?, ?)"),
    status: db.prepare(
      "SELECT hostname, addresses, stage, ready, conditions, status_updated_at FROM machines WHERE uuid = ?",
    ),
    events: db.prepare("SELECT id, received_at, type, line FROM events WHERE uuid = ? ORDER BY id"),
    prune: db.prepare(
      "DELETE FROM events WHERE uuid = ? AND id < " +
        "(SELECT id FROM events WHERE uuid = ? ORDER BY id DESC LIMIT 1 OFFSET ?)",
    ),
  };
}

/** Parses a JSON column; a damaged value is reported and treated as absent rather than failing every event. */
function parseJson<T>(uuid: string, column: string, text: string | null): T | undefined {
  if (text === null) return undefined;
  try {
    return JSON.parse(text) as T;
  } catch {
    log.warn("machine {uuid}: stored {column} is not JSON and is ignored", { uuid, column });
    return undefined;
  }
}

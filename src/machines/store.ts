/**
 * Machine records in the state database: one row per server UUID with its SideroLink address, its current
 * WireGuard public key and what it said when it last provisioned.
 *
 * @module
 */

import type { SqliteState } from "../state/sqlite.ts";
import type { MachineIdentity } from "./identity.ts";

/** One machine as the server keeps it. */
export interface MachineRecord {
  /** Lowercase canonical server UUID. */
  uuid: string;
  /** Bare canonical SideroLink address (the interface holds it as /128 allowed IP of the peer). */
  address: string;
  /** Current WireGuard public key (base64), undefined before the first provision or after peer GC. */
  publicKey?: string;
  nodeUniqueToken?: string;
  talosVersion?: string;
  firstProvisionedAt?: string;
  lastProvisionedAt?: string;
  namespace?: string;
  cluster?: string;
  metalMachine?: string;
  machine?: string;
}

interface Row {
  uuid: string;
  address: string;
  public_key: string | null;
  node_unique_token: string | null;
  talos_version: string | null;
  first_provisioned_at: string | null;
  last_provisioned_at: string | null;
  namespace: string | null;
  cluster: string | null;
  metal_machine: string | null;
  machine: string | null;
}

const COLUMNS = "uuid, address, public_key, node_unique_token, talos_version, first_provisioned_at, " +
  "last_provisioned_at, namespace, cluster, metal_machine, machine";

/**
 * Reads and writes machine records.
 *
 * @example
 * ```ts
 * const machines = new MachineStore(state);
 * machines.get("0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f")?.address;
 * ```
 */
export class MachineStore {
  readonly #state: SqliteState;

  constructor(state: SqliteState) {
    this.#state = state;
  }

  /** The record of one server, if any. */
  get(uuid: string): MachineRecord | undefined {
    const row = this.#state.query(() =>
      this.#state.statement(`SELECT ${COLUMNS} FROM machines WHERE uuid = ?`).get(uuid) as Row | undefined
    );
    return row && fromRow(row);
  }

  /** Every record, by UUID. */
  list(): MachineRecord[] {
    const rows = this.#state.query(() =>
      this.#state.statement(`SELECT ${COLUMNS} FROM machines ORDER BY uuid`).all() as unknown as Row[]
    );
    return rows.map(fromRow);
  }

  /**
   * Records a provision: creates the machine or updates its key, token, version and last time. Returns the record
   * as stored, read back in the same statement. Run to its end with `all()`: with `RETURNING`, SQLite commits when
   * the statement finishes, and `get()` would leave that to a reset whose error (a full disk) goes unseen.
   */
  recordProvision(
    record: { uuid: string; address: string; publicKey: string; nodeUniqueToken?: string; talosVersion?: string },
    identity: MachineIdentity | undefined,
    at: Date,
  ): MachineRecord {
    const row = this.#state.query(() =>
      this.#state.statement(
        `INSERT INTO machines (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (uuid) DO UPDATE SET public_key = excluded.public_key,
           node_unique_token = excluded.node_unique_token, talos_version = excluded.talos_version,
           last_provisioned_at = excluded.last_provisioned_at, namespace = excluded.namespace,
           cluster = excluded.cluster, metal_machine = excluded.metal_machine, machine = excluded.machine
         RETURNING ${COLUMNS}`,
      ).all(
        record.uuid,
        record.address,
        record.publicKey,
        record.nodeUniqueToken ?? null,
        record.talosVersion ?? null,
        at.toISOString(),
        at.toISOString(),
        identity?.namespace ?? null,
        identity?.cluster ?? null,
        identity?.metalMachine ?? null,
        identity?.machine ?? null,
      )[0] as unknown as Row
    );
    return fromRow(row);
  }

  /**
   * Forgets a machine's key `publicKey` (its peer was removed); the address stays reserved for it. A key that
   * changed meanwhile (the machine provisioned again) is kept. Returns the changed record, if it changed.
   */
  clearPublicKey(uuid: string, publicKey: string): MachineRecord | undefined {
    const row = this.#state.query(() =>
      this.#state.statement(
        `UPDATE machines SET public_key = NULL WHERE uuid = ? AND public_key = ? RETURNING ${COLUMNS}`,
      ).all(uuid, publicKey)[0] as unknown as Row | undefined
    );
    return row && fromRow(row);
  }
}

function fromRow(row: Row): MachineRecord {
  const record: MachineRecord = { uuid: row.uuid, address: row.address };
  if (row.public_key !== null) record.publicKey = row.public_key;
  if (row.node_unique_token !== null) record.nodeUniqueToken = row.node_unique_token;
  if (row.talos_version !== null) record.talosVersion = row.talos_version;
  if (row.first_provisioned_at !== null) record.firstProvisionedAt = row.first_provisioned_at;
  if (row.last_provisioned_at !== null) record.lastProvisionedAt = row.last_provisioned_at;
  if (row.namespace !== null) record.namespace = row.namespace;
  if (row.cluster !== null) record.cluster = row.cluster;
  if (row.metal_machine !== null) record.metalMachine = row.metal_machine;
  if (row.machine !== null) record.machine = row.machine;
  return record;
}

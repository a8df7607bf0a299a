/**
 * The machine records in memory, indexed by UUID, SideroLink address and public key: the address to identity
 * lookup annotates every log line and event, the others answer provisions and `peers` without a query. It follows
 * every provision, every cleared key and every inventory reload, and moves a machine when its address changes.
 *
 * @module
 */

import type { IdentifyByAddress, MachineIdentity } from "./identity.ts";
import type { Inventory } from "./inventory.ts";
import type { MachineRecord } from "./store.ts";

/**
 * Who is behind each address.
 *
 * @example
 * ```ts
 * const registry = new MachineRegistry(machines.list(), inventory);
 * registry.identify("fdae:41e4:649b:9303:cda8:cd34:bce1:2962")?.serverUuid;
 * ```
 */
export class MachineRegistry {
  #inventory: Inventory;
  readonly #byAddress = new Map<string, MachineRecord>();
  readonly #byUuid = new Map<string, MachineRecord>();
  readonly #byKey = new Map<string, MachineRecord>();

  constructor(records: Iterable<MachineRecord>, inventory: Inventory) {
    this.#inventory = inventory;
    for (const record of records) this.update(record);
  }

  /** The identity of the machine at `address`, with the inventory's names (else the names stored with it). */
  readonly identify: IdentifyByAddress = (address) => {
    const record = this.#byAddress.get(address);
    return record && this.identityOf(record.uuid, record);
  };

  /** The identity of a server UUID, whether or not it has provisioned. */
  identityOf(uuid: string, record?: MachineRecord): MachineIdentity {
    const listed = this.#inventory.get(uuid);
    if (listed) return listed;
    const identity: MachineIdentity = { serverUuid: uuid };
    if (record?.namespace) identity.namespace = record.namespace;
    if (record?.cluster) identity.cluster = record.cluster;
    if (record?.metalMachine) identity.metalMachine = record.metalMachine;
    if (record?.machine) identity.machine = record.machine;
    return identity;
  }

  /** Whether the inventory lists `uuid`. */
  listed(uuid: string): boolean {
    return this.#inventory.has(uuid);
  }

  /** Takes a machine's new or changed record (after a provision, or peer GC forgetting its key). */
  update(record: MachineRecord): void {
    const previous = this.#byUuid.get(record.uuid);
    if (previous !== undefined && previous.address !== record.address) this.#byAddress.delete(previous.address);
    if (previous?.publicKey !== undefined && previous.publicKey !== record.publicKey) {
      this.#byKey.delete(previous.publicKey);
    }
    this.#byUuid.set(record.uuid, record);
    this.#byAddress.set(record.address, record);
    if (record.publicKey !== undefined) this.#byKey.set(record.publicKey, record);
  }

  /** The record of `uuid`, if it has one. */
  record(uuid: string): MachineRecord | undefined {
    return this.#byUuid.get(uuid);
  }

  /** The record holding `address`, if any. */
  atAddress(address: string): MachineRecord | undefined {
    return this.#byAddress.get(address);
  }

  /** The record whose current key is `publicKey` (base64), if any. */
  withKey(publicKey: string): MachineRecord | undefined {
    return this.#byKey.get(publicKey);
  }

  /** Every record it holds, as last updated, in no particular order. */
  records(): MachineRecord[] {
    return [...this.#byUuid.values()];
  }

  /** Replaces the inventory; identities follow at once. */
  setInventory(inventory: Inventory): void {
    this.#inventory = inventory;
  }
}

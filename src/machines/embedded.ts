/**
 * The embedded machine directory: records and status in the state database, names from the inventory file
 * (reloaded when it changes). Nothing outside provisioning changes a machine's link here, so it reports no peer
 * changes of its own.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import { EventStore, type StatusUpdate, type StoredEvent } from "../events/store.ts";
import { logger } from "../log.ts";
import type { SqliteState } from "../state/sqlite.ts";
import type { Admission, MachineDirectory, PeerChangeListener, ProvisionRecord } from "./directory.ts";
import type { IdentifyByAddress, MachineIdentity } from "./identity.ts";
import { type Inventory, watchInventory } from "./inventory.ts";
import { MachineRegistry } from "./registry.ts";
import { type MachineRecord, MachineStore } from "./store.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

const log = logger(["serve"]);

/** What the embedded directory works from. */
export interface EmbeddedDirectoryOptions {
  state: SqliteState;
  /** The inventory as loaded at start-up (empty without `--inventory`). */
  inventory: Inventory;
  /** The inventory file, watched for changes. */
  inventoryPath?: string;
  /** `known`: only machines the inventory lists may provision. */
  accept: "any" | "known";
}

/**
 * Machines in the state database, every record also held in memory (the registry) and read from there.
 *
 * @example
 * ```ts
 * const directory = new EmbeddedDirectory({ state, inventory: new Map(), accept: "any" });
 * directory.identify("fdae:41e4:649b:9303:cda8:cd34:bce1:2962")?.serverUuid;
 * ```
 */
export class EmbeddedDirectory implements MachineDirectory {
  readonly #machines: MachineStore;
  readonly #registry: MachineRegistry;
  readonly #events: EventStore;
  readonly #accept: "any" | "known";
  readonly #stopWatching?: () => void;

  constructor(options: EmbeddedDirectoryOptions) {
    this.#machines = new MachineStore(options.state);
    this.#registry = new MachineRegistry(this.#machines.list(), options.inventory);
    this.#events = new EventStore(options.state);
    this.#accept = options.accept;
    const path = options.inventoryPath;
    if (path !== undefined) {
      this.#stopWatching = watchInventory(
        path,
        (next) => {
          this.#registry.setInventory(next);
          log.info("inventory {path} reloaded: {count} machines", { path, count: next.size });
        },
        (error) =>
          log.error("inventory {path} not reloaded, keeping the previous one: {error}", { path, error: error.message }),
      );
    }
  }

  /** At 10,000 machines, reading them from the database took 40 ms. */
  list(): readonly MachineRecord[] {
    return this.#registry.records();
  }

  get identify(): IdentifyByAddress {
    return this.#registry.identify;
  }

  identityOf(record: MachineRecord): MachineIdentity {
    return this.#registry.identityOf(record.uuid, record);
  }

  holderOfAddress(address: string): string | undefined {
    return this.#registry.atAddress(address)?.uuid;
  }

  holderOfKey(publicKey: string): string | undefined {
    return this.#registry.withKey(publicKey)?.uuid;
  }

  admit(uuid: string): Promise<Admission> {
    if (this.#accept === "known" && !this.#registry.listed(uuid)) {
      return Promise.reject(new GrpcRefusal(status.NOT_FOUND, `server ${uuid} is not in the inventory`));
    }
    const record = this.#registry.record(uuid);
    return Promise.resolve({
      uuid,
      address: record?.address,
      publicKey: record?.publicKey,
      identity: this.#registry.identityOf(uuid, record),
    });
  }

  recordProvision(admission: Admission, record: ProvisionRecord, at: Date): Promise<void> {
    this.#registry.update(this.#machines.recordProvision(record, admission.identity, at));
    return Promise.resolve();
  }

  clearPublicKey(uuid: string, publicKey: string): Promise<void> {
    const cleared = this.#machines.clearPublicKey(uuid, publicKey);
    if (cleared) this.#registry.update(cleared);
    return Promise.resolve();
  }

  recordEvent(uuid: string, event: StoredEvent, update?: StatusUpdate): Promise<boolean> {
    return Promise.resolve(this.#events.record(uuid, event, update));
  }

  onPeerChanges(_listener: PeerChangeListener): void {
    // Only provisioning and peer GC change links here, and both configure the device themselves.
  }

  close(): Promise<void> {
    this.#stopWatching?.();
    return Promise.resolve();
  }
}

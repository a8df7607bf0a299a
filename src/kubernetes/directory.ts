/**
 * The Kubernetes machine directory (PROTOCOL.md §6): ServerBindings are the machines (name = server UUID,
 * `spec.siderolink` = the link), MetalMachines and their Cluster API `Machine` owners give the names, and status
 * from events goes back onto the binding. Both kinds are listed and watched into memory, so identities and peers
 * keep working from the last watched state while the apiserver is away; only provisioning and status writes need
 * it to answer, and say `UNAVAILABLE` when it does not.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import { type Condition, CONDITION_TYPES } from "../events/status.ts";
import { EventStore, type StatusUpdate, type StoredEvent } from "../events/store.ts";
import { PREFIX_LENGTH } from "../addressing.ts";
import { logger } from "../log.ts";
import {
  type Admission,
  DirectoryUnavailable,
  type MachineDirectory,
  type PeerChangeListener,
  type ProvisionRecord,
} from "../machines/directory.ts";
import type { IdentifyByAddress, MachineIdentity } from "../machines/identity.ts";
import type { MachineRecord } from "../machines/store.ts";
import type { SqliteState } from "../state/sqlite.ts";
import type { PeerConfig } from "../wireguard/device.ts";
import { type KubeClient, KubeError, type KubeObject, type Target } from "./client.ts";
import { Informer, keyOf } from "./informer.ts";
import { type Binding, type Link, machineOwner, PATHS, readBinding } from "./resources.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

const log = logger(["kubernetes"]);

/** Attempts of a provision's write when other writers change the binding in between (409 Conflict). */
const CONFLICT_ATTEMPTS = 5;

const MERGE_PATCH = "application/merge-patch+json";

/** What the directory needs. */
export interface KubernetesDirectoryOptions {
  client: KubeClient;
  /** The local database that keeps the event history (not cluster state). */
  state: SqliteState;
  resyncMs?: number;
  /** Told about every watch restart, for metrics. */
  onWatchRestart?: (resource: string, reason: "expired" | "failed") => void;
}

/**
 * Machines as ServerBindings.
 *
 * @example
 * ```ts
 * const directory = await KubernetesDirectory.start({ client, state });
 * directory.identify("fdae:41e4:649b:9303:cda8:cd34:bce1:2962")?.machine;
 * ```
 */
export class KubernetesDirectory implements MachineDirectory {
  readonly #client: KubeClient;
  readonly #events: EventStore;
  readonly #bindings = new Map<string, Binding>();
  /** Links in use: address → UUID and key → UUID (the first binding to claim one holds it). */
  readonly #byAddress = new Map<string, string>();
  readonly #byKey = new Map<string, string>();
  /** The link each binding holds on the device (a binding whose claim collides holds none). */
  readonly #held = new Map<string, Link>();
  /** MetalMachine `namespace/name` → its Machine owner's name (undefined: none). */
  readonly #machines = new Map<string, string | undefined>();
  /** MetalMachine `namespace/name` → the bindings that refer to it. */
  readonly #referrers = new Map<string, Set<string>>();
  /** Identity objects per UUID; a new object whenever a name changes (the log path may cache by reference). */
  readonly #identities = new Map<string, MachineIdentity>();
  /** The problem last warned about per binding, so each is said once. */
  readonly #warned = new Map<string, string>();
  readonly #listeners: PeerChangeListener[] = [];
  readonly #informers: Informer[] = [];

  private constructor(options: KubernetesDirectoryOptions) {
    this.#client = options.client;
    this.#events = new EventStore(options.state);
  }

  /** Lists MetalMachines and ServerBindings (throws when the first list fails), then follows both. */
  static async start(options: KubernetesDirectoryOptions): Promise<KubernetesDirectory> {
    const directory = new KubernetesDirectory(options);
    const informer = (path: string, resource: string, upsert: (o: KubeObject) => void, remove: (k: string) => void) =>
      new Informer({
        client: options.client,
        path,
        resource,
        resyncMs: options.resyncMs,
        handler: { upsert, remove },
        onRestart: (reason) => options.onWatchRestart?.(resource, reason),
      });
    // Names first, so that the bindings' first identities are complete.
    const machines = informer(
      PATHS.metalMachines,
      "metalmachines",
      (object) => directory.#upsertMetalMachine(object),
      (key) => directory.#removeMetalMachine(key),
    );
    const bindings = informer(
      PATHS.serverBindings,
      "serverbindings",
      (object) => directory.#upsertBinding(object, false),
      (key) => directory.#removeBinding(key),
    );
    directory.#informers.push(machines, bindings);
    const started = performance.now();
    try {
      await machines.start();
      await bindings.start();
    } catch (error) {
      await directory.close();
      throw error;
    }
    log.info("listed {bindings} server bindings ({links} with a link) and {machines} metal machines in {ms} ms", {
      bindings: directory.#bindings.size,
      links: directory.#held.size,
      machines: directory.#machines.size,
      ms: Math.round(performance.now() - started),
    });
    return directory;
  }

  /** Whether every watch has its first list in. */
  get synced(): boolean {
    return this.#informers.every((informer) => informer.synced);
  }

  list(): readonly MachineRecord[] {
    const records: MachineRecord[] = [];
    for (const [uuid, link] of this.#held) {
      const identity = this.#identities.get(uuid)!;
      records.push({
        uuid,
        address: link.address,
        publicKey: link.publicKey,
        ...(identity.namespace && { namespace: identity.namespace }),
        ...(identity.cluster && { cluster: identity.cluster }),
        ...(identity.metalMachine && { metalMachine: identity.metalMachine }),
        ...(identity.machine && { machine: identity.machine }),
      });
    }
    return records.sort((a, b) => a.uuid < b.uuid ? -1 : 1);
  }

  readonly identify: IdentifyByAddress = (address) => {
    const uuid = this.#byAddress.get(address);
    return uuid === undefined ? undefined : this.#identities.get(uuid);
  };

  identityOf(record: MachineRecord): MachineIdentity {
    return this.#identities.get(record.uuid) ?? { serverUuid: record.uuid };
  }

  holderOfAddress(address: string): string | undefined {
    return this.#byAddress.get(address);
  }

  holderOfKey(publicKey: string): string | undefined {
    return this.#byKey.get(publicKey);
  }

  /**
   * The binding as last watched; read from the apiserver only when the watch has not shown it (yet). A stale cached
   * copy is safe: the write is conditional on its resourceVersion, and a conflict reads the binding afresh.
   */
  admit(uuid: string): Promise<Admission> {
    const cached = this.#bindings.get(uuid);
    return cached ? Promise.resolve(this.#admission(cached)) : this.#fetch(uuid);
  }

  /** Reads the binding from the apiserver. */
  async #fetch(uuid: string): Promise<Admission> {
    const target: Target = { verb: "get", resource: "serverbindings", name: uuid };
    let object: KubeObject;
    try {
      object = await this.#client.json<KubeObject>(target, `${PATHS.serverBindings}/${uuid}`);
    } catch (error) {
      if (error instanceof KubeError && error.status === 404) {
        throw new GrpcRefusal(status.NOT_FOUND, `server binding "${uuid}" not found`);
      }
      throw directoryError(error);
    }
    return this.#admission(readBinding(object));
  }

  #admission(binding: Binding): Admission {
    return {
      uuid: binding.uuid,
      address: binding.link?.address,
      publicKey: binding.link?.publicKey,
      identity: this.#identityFrom(binding),
      revision: binding.resourceVersion,
    };
  }

  async recordProvision(admission: Admission, record: ProvisionRecord): Promise<void> {
    const path = `${PATHS.serverBindings}/${record.uuid}`;
    const target: Target = { verb: "patch", resource: "serverbindings", name: record.uuid };
    const siderolink = { address: `${record.address}/${PREFIX_LENGTH}`, publicKey: record.publicKey };
    let revision = admission.revision;
    for (let attempt = 1;; attempt++) {
      try {
        // The resourceVersion makes the write conditional: another writer's change in between gives 409.
        const object = await this.#client.json<KubeObject>(target, path, {
          method: "PATCH",
          contentType: MERGE_PATCH,
          body: { metadata: { resourceVersion: revision }, spec: { siderolink } },
        });
        this.#upsertBinding(object, true);
        return;
      } catch (error) {
        if (!(error instanceof KubeError) || error.status !== 409 || attempt === CONFLICT_ATTEMPTS) {
          if (error instanceof KubeError && error.status === 404) {
            throw new GrpcRefusal(status.NOT_FOUND, `server binding "${record.uuid}" not found`);
          }
          throw directoryError(error);
        }
        const fresh = await this.#fetch(record.uuid);
        if (fresh.address !== undefined && fresh.address !== record.address) {
          throw new DirectoryUnavailable(
            `server binding "${record.uuid}" changed its address to ${fresh.address} meanwhile; provision again`,
          );
        }
        revision = fresh.revision;
      }
    }
  }

  clearPublicKey(uuid: string): Promise<void> {
    return Promise.reject(new Error(`peer GC does not apply in Kubernetes mode (server binding "${uuid}")`));
  }

  async recordEvent(uuid: string, event: StoredEvent, update?: StatusUpdate): Promise<boolean> {
    if (this.#events.has(uuid, event.id)) return false;
    const binding = this.#bindings.get(uuid);
    if (update && binding) {
      const ours = binding.conditions.filter(isOurs);
      const change = update({ hostname: binding.hostname, addresses: binding.addresses, conditions: ours });
      const spec: Record<string, unknown> = {};
      if (change.hostname !== undefined) spec.hostname = change.hostname;
      if (change.addresses !== undefined) spec.addresses = change.addresses;
      if (Object.keys(spec).length > 0) await this.#patch(uuid, "", { spec });
      if (change.conditions !== undefined) {
        // Conditions other writers keep on the binding stay as they are.
        const others = binding.conditions.filter((condition) => !isOurs(condition));
        await this.#patch(uuid, "/status", { status: { conditions: [...others, ...change.conditions] } });
      }
    }
    this.#events.record(uuid, event);
    return true;
  }

  onPeerChanges(listener: PeerChangeListener): void {
    this.#listeners.push(listener);
  }

  /** Stops watching and closes the client's connections. */
  async close(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.close()));
    this.#client.close();
  }

  /** A merge patch of the binding (or its status subresource); the answer updates the cache at once. */
  async #patch(uuid: string, subresource: "" | "/status", body: unknown): Promise<void> {
    const target: Target = { verb: "patch", resource: `serverbindings${subresource}`, name: uuid };
    try {
      const object = await this.#client.json<KubeObject>(target, `${PATHS.serverBindings}/${uuid}${subresource}`, {
        method: "PATCH",
        contentType: MERGE_PATCH,
        body,
      });
      this.#upsertBinding(object, true);
    } catch (error) {
      throw directoryError(error);
    }
  }

  /**
   * Takes a binding's new state. `own`: the answer to this directory's own write, whose peer change the caller has
   * already made. A state older than the cached one (a watch event delayed behind our own write's answer) is
   * ignored.
   */
  #upsertBinding(object: KubeObject, own: boolean): void {
    const binding = readBinding(object);
    const uuid = binding.uuid;
    const previous = this.#bindings.get(uuid);
    if (previous && olderThan(binding.resourceVersion, previous.resourceVersion)) return;
    this.#bindings.set(uuid, binding);
    this.#setReference(uuid, previous?.metalMachine, binding.metalMachine);
    this.#refreshIdentity(binding);
    const before = this.#held.get(uuid);
    const after = this.#claim(binding);
    if (!own) this.#emit(before, after);
    if (before && (before.address !== after?.address || before.publicKey !== after?.publicKey)) this.#reclaim(before);
  }

  #removeBinding(uuid: string): void {
    const binding = this.#bindings.get(uuid);
    if (!binding) return;
    this.#bindings.delete(uuid);
    this.#setReference(uuid, binding.metalMachine, undefined);
    this.#identities.delete(uuid);
    this.#warned.delete(uuid);
    const before = this.#held.get(uuid);
    this.#release(uuid);
    this.#emit(before, undefined);
    if (before) this.#reclaim(before);
    log.info("server binding {uuid} is gone: its peer is removed and its address is no longer a known source", {
      uuid,
    });
  }

  /** Makes the binding hold its link, unless it is malformed or another binding holds its address or key. */
  #claim(binding: Binding): Link | undefined {
    const uuid = binding.uuid;
    this.#release(uuid);
    const link = binding.link;
    const addressHolder = link && this.#byAddress.get(link.address);
    const keyHolder = link && this.#byKey.get(link.publicKey);
    const problem = binding.linkProblem ??
      (addressHolder !== undefined ? `its address ${link!.address} is held by server binding "${addressHolder}"` : (
        keyHolder !== undefined ? `its public key is held by server binding "${keyHolder}"` : undefined
      ));
    if (problem !== undefined) {
      if (this.#warned.get(uuid) !== problem) {
        this.#warned.set(uuid, problem);
        log.warn("server binding {uuid} is skipped: {problem}", { uuid, problem });
      }
      return undefined;
    }
    this.#warned.delete(uuid);
    if (!link) return undefined;
    this.#held.set(uuid, link);
    this.#byAddress.set(link.address, uuid);
    this.#byKey.set(link.publicKey, uuid);
    return link;
  }

  /** Gives a freed address or key to a binding that was skipped because another one held it. */
  #reclaim(freed: Link): void {
    for (const uuid of this.#warned.keys()) {
      const link = this.#bindings.get(uuid)?.link;
      if (!link || (link.address !== freed.address && link.publicKey !== freed.publicKey)) continue;
      const claimed = this.#claim(this.#bindings.get(uuid)!);
      if (claimed) {
        log.info("server binding {uuid} now holds its link", { uuid });
        this.#emit(undefined, claimed);
      }
    }
  }

  #release(uuid: string): void {
    const held = this.#held.get(uuid);
    if (!held) return;
    this.#held.delete(uuid);
    this.#byAddress.delete(held.address);
    this.#byKey.delete(held.publicKey);
  }

  /** Tells the listeners how the device's peers change when a binding's link goes from `before` to `after`. */
  #emit(before: Link | undefined, after: Link | undefined): void {
    if (before?.publicKey === after?.publicKey && before?.address === after?.address) return;
    const changes: PeerConfig[] = [];
    if (before && before.publicKey !== after?.publicKey) {
      changes.push({ publicKey: Uint8Array.fromBase64(before.publicKey), remove: true });
    }
    if (after) {
      changes.push({
        publicKey: Uint8Array.fromBase64(after.publicKey),
        replaceAllowedIPs: true,
        allowedIPs: [`${after.address}/128`],
      });
    }
    for (const listener of this.#listeners) listener(changes);
  }

  #upsertMetalMachine(object: KubeObject): void {
    const key = keyOf(object);
    const owner = machineOwner(object);
    if (this.#machines.has(key) && this.#machines.get(key) === owner) return;
    this.#machines.set(key, owner);
    this.#refreshReferrers(key);
  }

  #removeMetalMachine(key: string): void {
    if (!this.#machines.delete(key)) return;
    this.#refreshReferrers(key);
  }

  #refreshReferrers(metalMachine: string): void {
    for (const uuid of this.#referrers.get(metalMachine) ?? []) this.#refreshIdentity(this.#bindings.get(uuid)!);
  }

  #setReference(uuid: string, before: Binding["metalMachine"], after: Binding["metalMachine"]): void {
    const beforeKey = before && `${before.namespace}/${before.name}`;
    const afterKey = after && `${after.namespace}/${after.name}`;
    if (beforeKey === afterKey) return;
    if (beforeKey) {
      const set = this.#referrers.get(beforeKey);
      set?.delete(uuid);
      if (set?.size === 0) this.#referrers.delete(beforeKey);
    }
    if (afterKey) {
      const set = this.#referrers.get(afterKey) ?? new Set();
      set.add(uuid);
      this.#referrers.set(afterKey, set);
    }
  }

  /** Replaces the binding's identity object when a name changed. */
  #refreshIdentity(binding: Binding): void {
    const next = this.#identityFrom(binding);
    const current = this.#identities.get(binding.uuid);
    if (current && sameIdentity(current, next)) return;
    this.#identities.set(binding.uuid, next);
  }

  #identityFrom(binding: Binding): MachineIdentity {
    const identity: MachineIdentity = { serverUuid: binding.uuid };
    const ref = binding.metalMachine;
    if (ref?.namespace) identity.namespace = ref.namespace;
    if (binding.cluster) identity.cluster = binding.cluster;
    if (ref) {
      identity.metalMachine = ref.name;
      const machine = this.#machines.get(`${ref.namespace}/${ref.name}`);
      if (machine) identity.machine = machine;
    }
    return identity;
  }
}

/** Turns a failed API call into the directory's outage or a plain error naming it. */
function directoryError(error: unknown): Error {
  if (error instanceof KubeError && error.unavailable) return new DirectoryUnavailable(error.message);
  return error instanceof Error ? error : new Error(String(error));
}

function isOurs(condition: Record<string, unknown>): condition is Condition & Record<string, unknown> {
  return (CONDITION_TYPES as readonly unknown[]).includes(condition.type);
}

function sameIdentity(a: MachineIdentity, b: MachineIdentity): boolean {
  return a.serverUuid === b.serverUuid && a.namespace === b.namespace && a.cluster === b.cluster &&
    a.metalMachine === b.metalMachine && a.machine === b.machine;
}

/**
 * Whether resourceVersion `a` is older than `b`. Kubernetes calls them opaque, but the apiserver hands out etcd
 * revisions (decimal integers); anything else is never taken for older, so the newest state always wins.
 */
function olderThan(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

/**
 * The machine directory: the one seam between the daemon and where the truth about machines lives (DESIGN.md
 * "One seam, two homes"). The embedded default keeps it in the state database and the inventory file
 * (`embedded.ts`); Kubernetes mode in ServerBindings and MetalMachines (`../kubernetes/directory.ts`). The
 * provisioner, the peer follower, the log receiver, the event sink and the control API talk to this interface
 * and never ask which home they run in.
 *
 * @module
 */

import type { StatusUpdate, StoredEvent } from "../events/store.ts";
import type { PeerConfig } from "../wireguard/device.ts";
import type { IdentifyByAddress, MachineIdentity } from "./identity.ts";
import type { MachineRecord } from "./store.ts";

/** A machine that may provision, as the directory knows it right before the provision. */
export interface Admission {
  /** Lowercase canonical server UUID. */
  uuid: string;
  /** The address stored for it (from an earlier provision, or imported from Sidero); it wins over the computed one. */
  address?: string;
  /** The key its peer has now, if any. */
  publicKey?: string;
  /** Its names, as they annotate its lines. */
  identity: MachineIdentity;
  /** The directory's version of the machine as read, so that the write can be made conditional on it. */
  revision?: string;
}

/** What a provision stores. */
export interface ProvisionRecord {
  uuid: string;
  address: string;
  publicKey: string;
  nodeUniqueToken?: string;
  talosVersion?: string;
}

/**
 * The directory is away (the Kubernetes apiserver cannot be reached or answers 5xx): the caller answers
 * `UNAVAILABLE`, so Talos retries, and nothing was changed.
 */
export class DirectoryUnavailable extends Error {}

/** Receives peer changes that come from the directory itself (a binding edited or deleted), not from provisioning. */
export type PeerChangeListener = (changes: PeerConfig[]) => void;

/** Where machines, their names and their status live. */
export interface MachineDirectory {
  /** Every machine record, as last known (Kubernetes: as last watched). */
  list(): readonly MachineRecord[];

  /** The machine at a SideroLink address (bare canonical text); answered from memory, it never waits. */
  readonly identify: IdentifyByAddress;

  /** The names of a machine with a record. */
  identityOf(record: MachineRecord): MachineIdentity;

  /** The UUID of the machine whose address or current key this is, if any. */
  holderOfAddress(address: string): string | undefined;
  holderOfKey(publicKey: string): string | undefined;

  /**
   * Reads a machine about to provision. Throws a `GrpcRefusal` (src/grpc/refusal.ts) for a machine that may not
   * provision and {@linkcode DirectoryUnavailable} when the directory cannot tell now.
   */
  admit(uuid: string): Promise<Admission>;

  /** Stores a provision (the peer is already on the device). Throws {@linkcode DirectoryUnavailable} or an Error. */
  recordProvision(admission: Admission, record: ProvisionRecord, at: Date): Promise<void>;

  /** Forgets a machine's key `publicKey` after peer GC removed its peer; a key that changed meanwhile is kept. */
  clearPublicKey(uuid: string, publicKey: string): Promise<void>;

  /**
   * Keeps an event in the machine's history and applies its status update, unless the machine already has an
   * event with this id. Throws {@linkcode DirectoryUnavailable} when the status cannot be written now (nothing was
   * kept, so a resend is handled afresh).
   *
   * @returns false when the id was already handled.
   */
  recordEvent(uuid: string, event: StoredEvent, update?: StatusUpdate): Promise<boolean>;

  /** Calls `listener` with the peer changes of every later change of a machine's link made outside provisioning. */
  onPeerChanges(listener: PeerChangeListener): void;

  /** Stops watching; records stay where they are. */
  close(): Promise<void>;
}

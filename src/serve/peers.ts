/**
 * Keeping the device's peers in line with the machine records: at start-up (reconcile) and, when asked,
 * by removing peers that stay without a handshake (peer GC).
 *
 * @module
 */

import { formatKey } from "../keys.ts";
import { logger } from "../log.ts";
import type { MachineDirectory } from "../machines/directory.ts";
import type { MachineRecord } from "../machines/store.ts";
import type { Device, DeviceInfo, PeerConfig } from "../wireguard/device.ts";

const log = logger(["serve"]);

/**
 * Keeps the device's peers following the directory: one reconcile at start-up, then every peer change the directory
 * reports (a ServerBinding edited or deleted), applied one batch at a time in the order they came.
 *
 * @example
 * ```ts
 * await new PeerFollower(device, directory).start();
 * ```
 */
export class PeerFollower {
  readonly #device: Device;
  readonly #directory: MachineDirectory;
  #queue: Promise<void> = Promise.resolve();

  constructor(device: Device, directory: MachineDirectory) {
    this.#device = device;
    this.#directory = directory;
  }

  /** Reconciles the device with the directory's records, and follows later changes. */
  async start(): Promise<void> {
    // Listening first: a change that arrives during the reconcile is applied after it, never lost.
    this.#directory.onPeerChanges((changes) => this.#apply(changes));
    const started = performance.now();
    const info = await this.#device.read();
    const read = performance.now();
    const changes = reconcilePeers(info, this.#directory.list());
    if (changes.length > 0) await this.#device.configure({ peers: changes });
    log.info("peers reconciled: {changes} changes to {peers} peers (device read {readMs} ms, write {writeMs} ms)", {
      changes: changes.length,
      peers: info.peers.length,
      readMs: Math.round(read - started),
      writeMs: Math.round(performance.now() - read),
    });
  }

  #apply(changes: PeerConfig[]): void {
    if (changes.length === 0) return;
    this.#queue = this.#queue.then(() => this.#device.configure({ peers: changes })).catch((error) =>
      log.error("could not apply {count} peer changes from the machine directory: {error}", {
        count: changes.length,
        error: (error as Error).message,
      })
    );
  }
}

/**
 * The changes that make the device hold exactly one peer per machine with a key: missing peers added, peers
 * of no machine removed, peers whose allowed IPs differ corrected; matching peers are left alone so their
 * endpoints and handshakes survive a daemon restart.
 *
 * @example
 * ```ts
 * await device.configure({ peers: reconcilePeers(await device.read(), machines.list()) });
 * ```
 */
export function reconcilePeers(info: DeviceInfo, records: readonly MachineRecord[]): PeerConfig[] {
  const wanted = new Map(
    records.filter((record) => record.publicKey).map((record) => [record.publicKey!, `${record.address}/128`]),
  );
  const changes: PeerConfig[] = [];
  for (const peer of info.peers) {
    const key = formatKey(peer.publicKey);
    const allowed = wanted.get(key);
    if (allowed === undefined) changes.push({ publicKey: peer.publicKey, remove: true });
    else if (peer.allowedIPs.length !== 1 || peer.allowedIPs[0] !== allowed) {
      changes.push({ publicKey: peer.publicKey, replaceAllowedIPs: true, allowedIPs: [allowed] });
    }
    wanted.delete(key);
  }
  for (const [key, allowed] of wanted) {
    changes.push({ publicKey: Uint8Array.fromBase64(key), replaceAllowedIPs: true, allowedIPs: [allowed] });
  }
  return changes;
}

/**
 * Machines whose peer should go: the last handshake is older than `afterMs`, or none completed within
 * `afterMs` of the last provision. Their addresses stay reserved; a new provision brings the peer back.
 */
export function stalePeers(
  info: DeviceInfo,
  records: readonly MachineRecord[],
  now: Date,
  afterMs: number,
): MachineRecord[] {
  const handshakes = new Map(info.peers.map((peer) => [formatKey(peer.publicKey), peer.lastHandshake]));
  return records.filter((record) => {
    if (!record.publicKey) return false;
    const handshake = handshakes.get(record.publicKey);
    const since = handshake ?? (record.lastProvisionedAt ? new Date(record.lastProvisionedAt) : undefined);
    return since !== undefined && now.getTime() - since.getTime() > afterMs;
  });
}

/**
 * `siderolink peers --direct`: the report read from the device and the state store themselves, as root on the
 * daemon's host, without asking the daemon.
 *
 * @module
 */

import { type PeersReport, peersReport } from "../control/peers.ts";
import { MachineRegistry } from "../machines/registry.ts";
import { MachineStore } from "../machines/store.ts";
import { SqliteState } from "../state/sqlite.ts";
import { openDevice } from "../wireguard/select.ts";
import type { PeersOptions } from "./peers.ts";

/** Reads the device `options` name and joins its peers with the machine records of the state folder. */
export async function readDirect(options: PeersOptions): Promise<PeersReport> {
  console.error(`note: reading ${options.interface} and ${options.stateDir} directly, not asking the daemon`);
  using state = SqliteState.open(options.stateDir, "read");
  const machines = new MachineStore(state);
  const device = openDevice(options.wireguardBackend, options.interface);
  try {
    const records = machines.list();
    const registry = new MachineRegistry(records, new Map());
    return peersReport(await device.read(), device.backend, records, registry.identityOf.bind(registry), new Date());
  } finally {
    await device.close();
  }
}

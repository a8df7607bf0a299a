/**
 * wireguard-go for tests: interface names unique on the host (the UAPI socket folder is shared by every network
 * namespace), a second wireguard-go configured with `wg` as an independent peer, `wg show … dump` parsed for
 * comparison, and the {@linkcode UserspaceDevice} driven inside a namespace through `userspace_driver.ts`.
 *
 * @module
 */

import { UAPI_SOCKET_DIR } from "../../src/wireguard/userspace.ts";
import type { NetNs } from "./netns.ts";
import type { DriverPlan, DriverResult } from "./userspace_driver.ts";

let counter = 0;

/** An interface name unique on this host for this process: `<label><pid><n>`, at most 15 characters. */
export function uniqueInterfaceName(label: string): string {
  const name = `${label}${Deno.pid}${counter++}`;
  if (name.length > 15) throw new Error(`interface name ${name} is longer than 15 characters; shorten "${label}"`);
  return name;
}

/**
 * Stops the wireguard-go of interface `name` on dispose by removing its UAPI socket (it watches the socket and
 * exits, which removes its interface), whether it was started by the test or by the code under test.
 */
export class WireGuardGoCleanup implements AsyncDisposable {
  readonly socketPath: string;

  constructor(name: string) {
    this.socketPath = `${UAPI_SOCKET_DIR}/${name}.sock`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.socketPath).catch((error) => {
      if (!(error instanceof Deno.errors.NotFound)) console.error(`could not remove ${this.socketPath}: ${error}`);
    });
  }
}

/** Starts wireguard-go for `name` in `ns` (its launcher returns once the interface and the socket exist). */
export async function startWireGuardGo(ns: NetNs, name: string): Promise<WireGuardGoCleanup> {
  const cleanup = new WireGuardGoCleanup(name);
  // Without LOG_LEVEL the daemon gets /dev/null, not our pipes, so the launcher's output ends when it exits.
  await ns.exec("env", ["-u", "LOG_LEVEL", "wireguard-go", name]);
  return cleanup;
}

/** A peer as `wg show <iface> dump` prints it. */
export interface DumpPeer {
  publicKey: string;
  endpoint?: string;
  allowedIPs: string[];
  /** Seconds since the epoch, 0 for never. */
  latestHandshake: number;
  receiveBytes: number;
  transmitBytes: number;
  /** 0 for off. */
  persistentKeepalive: number;
}

/** The interface as `wg show <iface> dump` prints it. */
export interface Dump {
  publicKey: string;
  listenPort: number;
  peers: DumpPeer[];
}

/** Runs `wg show <name> dump` in `ns` and parses it (the private key is not kept). */
export async function wgDump(ns: NetNs, name: string): Promise<Dump> {
  const [device, ...peers] = (await ns.exec("wg", ["show", name, "dump"])).trimEnd().split("\n").map((line) =>
    line.split("\t")
  );
  const none = (field: string) => field === "(none)" ? undefined : field;
  return {
    publicKey: device[1],
    listenPort: Number(device[2]),
    peers: peers.map(([publicKey, _psk, endpoint, allowedIPs, handshake, rx, tx, keepalive]) => ({
      publicKey,
      endpoint: none(endpoint),
      allowedIPs: none(allowedIPs)?.split(",") ?? [],
      latestHandshake: Number(handshake),
      receiveBytes: Number(rx),
      transmitBytes: Number(tx),
      persistentKeepalive: keepalive === "off" ? 0 : Number(keepalive),
    })),
  };
}

const DENO = new URL("../../scripts/deno", import.meta.url).pathname;
const DRIVER = new URL("./userspace_driver.ts", import.meta.url).pathname;

/** Runs `plan` on a {@linkcode UserspaceDevice} in a fresh Deno process inside `ns`, and returns its results. */
export async function drive(ns: NetNs, plan: DriverPlan): Promise<DriverResult[]> {
  const output = await ns.exec("env", ["-u", "LOG_LEVEL", DENO, "run", "-A", "--frozen", DRIVER], {
    stdin: JSON.stringify(plan),
  });
  return JSON.parse(output);
}

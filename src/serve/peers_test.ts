import { deepEqual } from "node:assert/strict";
import { formatKey } from "../keys.ts";
import type { MachineRecord } from "../machines/store.ts";
import type { DeviceInfo, Peer } from "../wireguard/device.ts";
import { reconcilePeers, stalePeers } from "./peers.ts";

const key = (n: number) => new Uint8Array(32).fill(n);
const peer = (n: number, allowedIPs: string[], lastHandshake?: Date): Peer => ({
  publicKey: key(n),
  allowedIPs,
  lastHandshake,
  receiveBytes: 0,
  transmitBytes: 0,
  persistentKeepaliveInterval: 0,
});
const record = (n: number, address: string, lastProvisionedAt?: string): MachineRecord => ({
  uuid: `00000000-0000-0000-0000-00000000000${n}`,
  address,
  publicKey: formatKey(key(n)),
  lastProvisionedAt,
});
const device = (peers: Peer[]): DeviceInfo => ({ name: "siderolink", listenPort: 51821, peers });

Deno.test("reconcile adds missing peers, removes unknown ones, fixes allowed IPs, leaves matching ones", () => {
  const changes = reconcilePeers(
    device([peer(1, ["fd00::1/128"]), peer(2, ["fd00::99/128"]), peer(3, ["fd00::3/128"])]),
    [record(1, "fd00::1"), record(2, "fd00::2"), record(4, "fd00::4"), { uuid: "no-key", address: "fd00::5" }],
  );
  deepEqual(changes, [
    { publicKey: key(2), replaceAllowedIPs: true, allowedIPs: ["fd00::2/128"] },
    { publicKey: key(3), remove: true },
    { publicKey: key(4), replaceAllowedIPs: true, allowedIPs: ["fd00::4/128"] },
  ]);
  deepEqual(reconcilePeers(device([peer(1, ["fd00::1/128"])]), [record(1, "fd00::1")]), []);
});

Deno.test("peer GC picks peers idle too long or never up after provisioning", () => {
  const now = new Date("2026-11-26T12:00:00Z");
  const minutesAgo = (minutes: number) => new Date(now.getTime() - minutes * 60_000);
  const stale = stalePeers(
    device([peer(1, [], minutesAgo(1)), peer(2, [], minutesAgo(30)), peer(3, []), peer(4, [])]),
    [
      record(1, "fd00::1"),
      record(2, "fd00::2"),
      record(3, "fd00::3", minutesAgo(30).toISOString()),
      record(4, "fd00::4", minutesAgo(2).toISOString()),
    ],
    now,
    10 * 60_000,
  );
  deepEqual(stale.map((machine) => machine.address), ["fd00::2", "fd00::3"]);
});

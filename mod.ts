/**
 * The siderolink library surface: SideroLink addressing, WireGuard keys, WireGuard control (one `Device`
 * interface, a kernel and a userspace backend) and the kernel-log record types.
 *
 * @example
 * ```ts
 * import { networkPrefix, formatIPv6 } from "./mod.ts";
 * formatIPv6(networkPrefix("")); // "fdae:41e4:649b:9303::"
 * ```
 *
 * @module
 */

export * from "./src/addressing.ts";
export * from "./src/ipv6.ts";
export * from "./src/keys.ts";
export * from "./src/kernel_args.ts";
export type { Installation } from "./src/state/types.ts";
export type { BackendName, Device, DeviceConfig, DeviceInfo, Peer, PeerConfig } from "./src/wireguard/device.ts";
export { SIDEROLINK_MTU } from "./src/wireguard/device.ts";
export { KernelDevice, kernelWireGuardAvailable } from "./src/wireguard/kernel.ts";
export { UserspaceDevice, userspaceWireGuardAvailable } from "./src/wireguard/userspace.ts";
export { type BackendChoice, openDevice } from "./src/wireguard/select.ts";
export { type KernelRecord, LineFormatter, parseRecord, type TalosLevel } from "./src/logs/record.ts";
export type { MachineIdentity } from "./src/machines/identity.ts";

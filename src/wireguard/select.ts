/**
 * Choosing the WireGuard backend: the kernel when its generic netlink family resolves, else wireguard-go when
 * it is installed, else one error that names both and how to get each.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import type { Device } from "./device.ts";
import { KernelDevice, kernelWireGuardAvailable } from "./kernel.ts";
import { UserspaceDevice, userspaceWireGuardAvailable } from "./userspace.ts";

/** What `--wireguard-backend` accepts. */
export type BackendChoice = "auto" | "kernel" | "userspace";

/**
 * Opens the device `name` with the chosen backend (nothing is created yet: call `ensureLink`).
 *
 * @example
 * ```ts
 * const device = openDevice("auto", "siderolink");
 * ```
 */
export function openDevice(choice: BackendChoice, name: string): Device {
  if (choice === "kernel" || (choice === "auto" && kernelWireGuardAvailable())) return KernelDevice.open(name);
  if (choice === "userspace" || userspaceWireGuardAvailable()) return UserspaceDevice.open(name);
  throw new UserError(
    "no WireGuard available: this kernel has no WireGuard (load it with `modprobe wireguard`; it is in Linux 5.6 " +
      "and later) and wireguard-go is not on PATH (install it, e.g. `apt-get install wireguard-go`); " +
      "--wireguard-backend kernel|userspace forces one",
  );
}

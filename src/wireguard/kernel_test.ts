import { equal, match, rejects, throws } from "node:assert/strict";
import { UserError } from "../errors.ts";
import { KernelDevice, kernelWireGuardAvailable } from "./kernel.ts";

Deno.test("an invalid interface name is refused before any socket opens", () => {
  throws(() => KernelDevice.open("name/with/slashes"), /interface name "name\/with\/slashes" is invalid/);
});

Deno.test("configure and read of a device that cannot exist fail clearly, without the private key", async () => {
  const available = kernelWireGuardAvailable();
  const device = KernelDevice.open("sl-absent0");
  const privateKey = new Uint8Array(32).fill(0x5a);
  for (const attempt of [() => device.configure({ privateKey, listenPort: 51821 }), () => device.read()]) {
    await rejects(attempt, (error: unknown) => {
      const { message } = error as Error;
      equal(message.includes(privateKey.toBase64()) || message.includes(privateKey.toHex()), false);
      if (available) {
        // With kernel WireGuard the request reaches the kernel, which has no such device.
        match(message, /WireGuard device sl-absent0.*: ENODEV/);
      } else {
        equal(error instanceof UserError, true);
        equal(
          message,
          'WireGuard interface sl-absent0: this kernel has no WireGuard (the generic netlink family "wireguard" ' +
            'does not resolve); load the module with "modprobe wireguard", or use --wireguard-backend userspace',
        );
      }
      return true;
    });
  }
  await device.close();
  equal(device.backend, "kernel");
});

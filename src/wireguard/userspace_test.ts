import { equal, rejects, throws } from "node:assert/strict";
import { UAPI_SOCKET_DIR, UserspaceDevice, userspaceWireGuardAvailable } from "./userspace.ts";

Deno.test("wireguard-go counts as available only as an executable on PATH", async () => {
  const dir = await Deno.makeTempDir();
  const path = Deno.env.get("PATH");
  try {
    Deno.env.set("PATH", `/nonexistent:${dir}`);
    equal(userspaceWireGuardAvailable(), false);
    await Deno.writeTextFile(`${dir}/wireguard-go`, "#!/bin/sh\n", { mode: 0o644 });
    equal(userspaceWireGuardAvailable(), false, "not executable");
    await Deno.chmod(`${dir}/wireguard-go`, 0o755);
    equal(userspaceWireGuardAvailable(), true);
  } finally {
    if (path === undefined) Deno.env.delete("PATH");
    else Deno.env.set("PATH", path);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("an invalid interface name is refused before anything starts", () => {
  for (const name of ["", "a/b", "has space", "sixteen-chars-xx"]) {
    throws(() => UserspaceDevice.open(name), /interface name ".*" is invalid/);
  }
});

Deno.test("talking to an interface whose wireguard-go is not running says so", async () => {
  // A name no daemon uses: nothing is started or changed on the host.
  const name = `slnone${Deno.pid}`;
  const device = UserspaceDevice.open(name);
  try {
    equal(device.socketPath, `${UAPI_SOCKET_DIR}/${name}.sock`);
    const message = `WireGuard device ${name} has no running daemon on ${UAPI_SOCKET_DIR}/${name}.sock`;
    await rejects(device.read(), (e: Error) => e.message.startsWith(message));
    await rejects(device.configure({ listenPort: 1 }), (e: Error) => e.message.startsWith(message));
    await device.deleteLink(); // no link, nothing to stop: not an error
  } finally {
    await device.close();
  }
});

/**
 * WireGuard over gRPC with the kernel backend: this host's kernel has no WireGuard, so the scenario of
 * tests/support/grpc_tunnel_scenario.ts runs in the QEMU guest (tests/vm/harness.ts), serve with
 * `--wireguard-backend kernel` and the machine on kernel WireGuard, through tests/vm/grpc_tunnel_guest.ts.
 *
 * @module
 */
import assert from "node:assert/strict";
import { runInVm } from "./vm/harness.ts";
import { hasPythonGrpc, isRoot, onPath, PYTHON, skipUnless } from "./support/requirements.ts";

const ignore = skipUnless(
  "WireGuard over gRPC with kernel WireGuard in a VM",
  [onPath("qemu-system-x86_64"), "qemu-system-x86_64 (./scripts/install-test-deps.sh installs qemu-system-x86)"],
  [onPath("busybox"), "busybox (./scripts/install-test-deps.sh installs busybox-static)"],
  [onPath("depmod"), "depmod (./scripts/install-test-deps.sh installs kmod)"],
  [onPath("curl"), "curl, copied into the guest (apt-get install curl)"],
  [hasPythonGrpc(), `${PYTHON} with grpcio, copied into the guest (apt-get install python3-grpcio python3-grpc-tools)`],
  [isRoot(), "root (the initramfs build writes /var/cache/siderolink-vm and may run apt-get update)"],
);

Deno.test(
  { name: "kernel WireGuard in a VM: a machine whose UDP is blocked tunnels WireGuard over gRPC", ignore },
  async () => {
    const run = await runInVm(["deno", "test", "-A", "--no-check", "--cached-only", "tests/vm/grpc_tunnel_guest.ts"], {
      timeoutSeconds: 400,
    });
    console.error(
      `VM timings: build ${run.buildMs.toFixed(0)} ms, boot to command ${run.bootMs.toFixed(0)} ms, whole VM ${
        run.vmMs.toFixed(0)
      } ms`,
    );
    assert.equal(run.code, 0, "the guest test failed (see its console output above)");
  },
);

/**
 * Guest side of tests/grpc_tunnel_kernel_test.ts: runs INSIDE the VM (Debian's kernel, with WireGuard), as
 * `deno test -A --no-check --cached-only tests/vm/grpc_tunnel_guest.ts`. Not named `*_test.ts`, so the host's test run
 * does not pick it up: the host kernel has no WireGuard.
 *
 * The scenario of tests/support/grpc_tunnel_scenario.ts with serve on the kernel backend and a machine on kernel
 * WireGuard too, its node-side relay Python grpcio as on the host (the initramfs carries python3 and grpcio). Serve's
 * restart under an open stream is left to the host's run (tests/grpc_tunnel_test.ts): the relay's reconnection does
 * not depend on the backend, and its 10 s retry with a second serve start would add about 17 s of emulation.
 *
 * @module
 */
import { runGrpcTunnelScenario } from "../support/grpc_tunnel_scenario.ts";

Deno.test("kernel WireGuard: a machine whose UDP is blocked tunnels WireGuard over gRPC", async (t) => {
  await runGrpcTunnelScenario(t, { backend: "kernel", restart: false });
});

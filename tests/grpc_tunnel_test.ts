/**
 * WireGuard over gRPC end to end with the userspace backend (wireguard-go for serve and for the machine): the
 * scenario of tests/support/grpc_tunnel_scenario.ts, all of it. The kernel backend runs the same scenario in the QEMU
 * guest (tests/grpc_tunnel_kernel_test.ts).
 *
 * @module
 */
import { runGrpcTunnelScenario } from "./support/grpc_tunnel_scenario.ts";
import { hasPythonGrpc, isRoot, onPath, skipUnless } from "./support/requirements.ts";

const ignore = skipUnless(
  "WireGuard over gRPC end to end",
  [isRoot(), "root (network namespaces, TUN devices)"],
  [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
  [onPath("wg"), "wg (apt-get install wireguard-tools)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("dmesg"), "dmesg (util-linux)"],
  [onPath("curl"), "curl (apt-get install curl)"],
  [hasPythonGrpc(), "python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools)"],
);

Deno.test({ name: "a machine whose UDP is blocked tunnels WireGuard over gRPC", ignore }, async (t) => {
  await runGrpcTunnelScenario(t, { backend: "userspace", restart: true });
});

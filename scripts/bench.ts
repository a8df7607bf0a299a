/**
 * `deno task bench`: every benchmark, each printing its figures next to a baseline measured in the same run.
 * Needs root (network namespaces), wireguard-go, Python grpcio, jq, iperf3 and the Kubernetes tools, as the tests do.
 *
 * @module
 */

import { benchGrpcTunnel } from "./bench_grpc_tunnel.ts";
import { benchLogIngest } from "./bench_log_ingest.ts";
import { benchKubernetes } from "./bench_kubernetes.ts";
import { benchLogsCli } from "./bench_logs_cli.ts";
import { benchMetrics } from "./bench_metrics.ts";
import { benchProvision } from "./bench_provision.ts";
import { benchTls } from "./bench_tls.ts";

console.log("== kernel-log ingest (4 connections, 250,000 records) ==");
console.log(JSON.stringify(await benchLogIngest(), null, 2));
console.log("\n== logs: --tail on the store, --follow latency, --stdin against jq ==");
await benchLogsCli();
console.log("\n== provisioning 10,000 machines, memory, peers, start-up with them ==");
await benchProvision();
console.log("\n== Provision API over TLS, next to h2c (Python grpcio, a trivial handler) ==");
await benchTls();
console.log("\n== metrics: serve start-up with --metrics-listen, a scrape with 1,000 peers ==");
await benchMetrics();
console.log("\n== WireGuard over gRPC next to plain UDP WireGuard (userspace backend, Python relay) ==");
await benchGrpcTunnel();
console.log(
  "\n== Kubernetes mode: 10,000 ServerBindings, start-up, memory, provisioning, next to the embedded home ==",
);
await benchKubernetes();

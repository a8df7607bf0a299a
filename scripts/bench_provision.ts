/**
 * Benchmark of provisioning at fleet size: a real serve (userspace backend) in a test namespace, a Python grpcio
 * client provisioning 10,000 new machines from 8 threads; then the daemon's memory and the time `peers` takes at
 * that size. Baselines from the same run: refused provisions (wrong token: the same transport and gRPC path, no
 * work) for the API, and `wg show <iface> dump` for `peers`.
 *
 * Run (root): `deno run -A scripts/bench_provision.ts [machines]`
 *
 * @module
 */

import { join } from "node:path";
import { NetNs } from "../tests/support/netns.ts";
import { runCli } from "../tests/support/cli.ts";
import { ServeProcess } from "../tests/support/serve_process.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("../tests/support/talos_node.py", import.meta.url).pathname;
const TOKEN = "bench-token";

interface ManyResult {
  count: number;
  seconds: number;
  errors: Record<string, number>;
}

/** Runs the benchmark and prints its figures. */
export async function benchProvision(machines = 10_000): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "siderolink-bench-" });
  const iface = `slb${Deno.pid % 100000}`;
  const socket = join(work, "control.sock");
  await using ns = await NetNs.create("bench");
  await ns.exec("ip", ["-6", "addr", "add", "fd5e:3::1/64", "dev", "lo", "nodad"]);
  const serve = await ServeProcess.start([
    "--state-dir",
    join(work, "state"),
    "--wireguard-endpoint",
    "[fd5e:3::1]:51821",
    "--wireguard-backend",
    "userspace",
    "--interface",
    iface,
    "--api-listen",
    "[fd5e:3::1]:8081",
    "--control-socket",
    socket,
    "--join-token",
    TOKEN,
  ], { ns });
  try {
    const many = async (count: number, token: string) =>
      JSON.parse(
        await ns.exec(PYTHON, [NODE_SCRIPT, "provision-many", "[fd5e:3::1]:8081", String(count), "8", token]),
      ) as ManyResult;
    const rssBefore = rssMiB(serve.pid);
    const refused = await many(2_000, "wrong");
    const provisioned = await many(machines, TOKEN);
    const refusedRate = refused.count / refused.seconds;
    const rate = provisioned.count / provisioned.seconds;
    console.log(
      `provision: ${provisioned.count} machines in ${provisioned.seconds.toFixed(1)} s = ${rate.toFixed(0)}/s ` +
        `(errors: ${JSON.stringify(provisioned.errors)}); baseline refused calls ${refusedRate.toFixed(0)}/s; ` +
        `ratio ${(rate / refusedRate).toFixed(2)}`,
    );
    console.log(
      `serve memory: ${rssBefore.toFixed(0)} MiB before, ${rssMiB(serve.pid).toFixed(0)} MiB with ${machines} machines`,
    );

    const wgStart = performance.now();
    const wgDump = await ns.exec("wg", ["show", iface, "dump"]);
    const wgMs = performance.now() - wgStart;
    const peersStart = performance.now();
    const peers = await runCli(["peers", "--json", "--control-socket", socket]);
    const peersMs = performance.now() - peersStart;
    const startStart = performance.now();
    await runCli(["--version"]);
    const startupMs = performance.now() - startStart;
    const count = JSON.parse(peers.stdout).length;
    console.log(
      `peers --json with ${count} peers: ${peersMs.toFixed(0)} ms (CLI start-up alone ${startupMs.toFixed(0)} ms); ` +
        `baseline wg show dump (${wgDump.trim().split("\n").length - 1} peers) ${wgMs.toFixed(0)} ms; ` +
        `ratio ${(peersMs / wgMs).toFixed(1)}`,
    );
  } finally {
    await serve.stop();
    await Deno.remove(work, { recursive: true });
  }
}

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

if (import.meta.main) await benchProvision(Number(Deno.args[0] ?? 10_000));

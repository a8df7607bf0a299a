/**
 * Benchmark of the embedded home at fleet size: a real serve (userspace backend) in a test namespace, a Python
 * grpcio client provisioning 10,000 new machines from 8 threads; then the daemon's memory, `peers` at that size
 * stage by stage, and serve's start-up with those machines. Baselines from the same run: refused provisions (wrong
 * token: the same transport and gRPC path, no work), alternated with the provisions in rounds so that the load of
 * a shared machine weighs on both alike; `wg show <iface> dump` for `peers`; serve's start-up with no machines.
 *
 * Run (root): `deno run -A scripts/bench_provision.ts [machines]`
 *
 * @module
 */

import { join } from "node:path";
import { controlBody } from "../src/control/client.ts";
import { NetNs } from "../tests/support/netns.ts";
import { runCli } from "../tests/support/cli.ts";
import { ServeProcess } from "../tests/support/serve_process.ts";
import { rssMiB, settledRss } from "./bench_memory.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("../tests/support/talos_node.py", import.meta.url).pathname;
const TOKEN = "bench-token";
const ROUNDS = 5;
/** Runs of each `peers` figure; the median is reported. */
const RUNS = 5;

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
  const start = async () => {
    const began = performance.now();
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
    return { serve, ms: performance.now() - began };
  };
  let { serve, ms: emptyStartMs } = await start();
  try {
    const many = async (count: number, token: string) =>
      JSON.parse(
        await ns.exec(PYTHON, [NODE_SCRIPT, "provision-many", "[fd5e:3::1]:8081", String(count), "8", token]),
      ) as ManyResult;
    const rssBefore = rssMiB(serve.pid);
    const refused = { count: 0, seconds: 0 }, provisioned = { count: 0, seconds: 0, errors: {} as object };
    for (let round = 0; round < ROUNDS; round++) {
      const no = await many(2_000 / ROUNDS, "wrong");
      const yes = await many(machines / ROUNDS, TOKEN);
      refused.count += no.count;
      refused.seconds += no.seconds;
      provisioned.count += yes.count;
      provisioned.seconds += yes.seconds;
      provisioned.errors = { ...provisioned.errors, ...yes.errors };
    }
    const refusedRate = refused.count / refused.seconds;
    const rate = provisioned.count / provisioned.seconds;
    console.log(
      `provision: ${provisioned.count} machines in ${provisioned.seconds.toFixed(1)} s = ${rate.toFixed(0)}/s ` +
        `(errors: ${JSON.stringify(provisioned.errors)}); baseline refused calls ${refusedRate.toFixed(0)}/s ` +
        `(${ROUNDS} rounds each, alternating); ratio ${(rate / refusedRate).toFixed(2)}; per call ` +
        `${(1e6 / rate).toFixed(0)} µs, of which the refused path ${(1e6 / refusedRate).toFixed(0)} µs ` +
        `(load average ${Deno.loadavg()[0].toFixed(1)}: the machine is shared)`,
    );
    const rssAfter = rssMiB(serve.pid);
    const settled = await settledRss(serve.pid);
    const perMachine = (mib: number) => ((mib - rssBefore) * 1024 * 1024 / machines).toFixed(0);
    console.log(
      `serve memory: ${rssBefore.toFixed(0)} MiB at start; with ${machines} machines ${rssAfter.toFixed(0)} MiB ` +
        `right after the provisions (${perMachine(rssAfter)} bytes per machine), ${settled.mib.toFixed(0)} MiB ` +
        `once idle (${perMachine(settled.mib)} bytes per machine; ${settled.how})`,
    );

    await benchPeers(ns, iface, socket);

    // Start-up with every machine: a restart (the device keeps its peers), then one after the link is gone (as
    // after a reboot: wireguard-go starts afresh and every peer is written again).
    await serve.stop();
    const restarted = await start();
    serve = restarted.serve;
    const reconciledKept = reconcileLine(serve);
    await serve.stop();
    await ns.exec("ip", ["link", "delete", iface]);
    await waitGone(`/var/run/wireguard/${iface}.sock`);
    const rebooted = await start();
    serve = rebooted.serve;
    console.log(
      `start-up to serving with ${machines} machines: ${restarted.ms.toFixed(0)} ms on the kept device ` +
        `(${reconciledKept}), ${rebooted.ms.toFixed(0)} ms on a new one (${reconcileLine(serve)}); ` +
        `baseline with none ${emptyStartMs.toFixed(0)} ms (a new device); ` +
        `more: ${(restarted.ms - emptyStartMs).toFixed(0)} ms, ${(rebooted.ms - emptyStartMs).toFixed(0)} ms`,
    );
  } finally {
    await serve.stop();
    await Deno.remove(work, { recursive: true });
  }
}

/**
 * `peers --json` and the table against `wg show dump`, each the median of {@link RUNS}, and its stages: the CLI's
 * start-up (a plain `peers` at a socket nobody listens on: the same modules, then one failed connect), the daemon's
 * route for each format as the CLI asks it (with the daemon's own timings from `Server-Timing`), and the rest: copying
 * the text to stdout and the CLI's exit.
 */
async function benchPeers(ns: NetNs, iface: string, socket: string): Promise<void> {
  const wg = await median(async () => {
    const began = performance.now();
    const dump = await ns.exec("wg", ["show", iface, "dump"]);
    return { ms: performance.now() - began, peers: dump.trim().split("\n").length - 1 };
  });
  const cli = (args: string[], code = 0) =>
    median(async () => {
      const began = performance.now();
      const result = await runCli(args);
      if (result.code !== code) throw new Error(`peers ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
      return { ms: performance.now() - began, stdout: result.stdout };
    });
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  // The routes first: the first call after the provisions runs the daemon's parse and join cold (not yet compiled).
  // Timed as the CLI asks (controlBody); the daemon's own split from the Server-Timing of a fetch in between.
  let firstRouteMs: number | undefined;
  const route = (format: string) =>
    median(async () => {
      const began = performance.now();
      for await (const _bytes of controlBody(socket, `/v1/peers?format=${format}`, "")) {
        // Only the time it takes to receive the text.
      }
      const ms = performance.now() - began;
      firstRouteMs ??= ms;
      const response = await fetch(`http://siderolink/v1/peers?format=${format}`, { client });
      await response.arrayBuffer();
      return { ms, timing: response.headers.get("server-timing") ?? "" };
    });
  const jsonRoute = await route("json"), tableRoute = await route("table");
  client.close();
  const json = await cli(["peers", "--json", "--control-socket", socket]);
  const table = await cli(["peers", "--control-socket", socket]);
  const startup = await cli(["peers", "--control-socket", `${socket}.absent`], 1);
  const count = JSON.parse(json.stdout).length;
  const load = Deno.loadavg()[0].toFixed(1);
  const ratio = (ms: number) => (ms / wg.ms).toFixed(1);
  const stage = (name: string, total: number, inDaemon: { ms: number; timing: string }) =>
    `${name}: route ${inDaemon.ms.toFixed(0)} ms (in the daemon: ${inDaemon.timing.replaceAll(";dur=", " ")} ms), ` +
    `the rest ${(total - startup.ms - inDaemon.ms).toFixed(0)} ms`;
  console.log(
    `peers with ${count} peers (median of ${RUNS}): --json ${json.ms.toFixed(0)} ms (ratio ${ratio(json.ms)}), ` +
      `table ${table.ms.toFixed(0)} ms (ratio ${ratio(table.ms)}); baseline wg show dump (${wg.peers} peers) ` +
      `${wg.ms.toFixed(0)} ms. Stages: CLI start-up ${startup.ms.toFixed(0)} ms; ` +
      `${stage("--json", json.ms, jsonRoute)}; ${stage("table", table.ms, tableRoute)}; the first route call ` +
      `${firstRouteMs!.toFixed(0)} ms (load average ${load})`,
  );
}

/** The run of `measure` with the median `ms` of {@link RUNS}. */
async function median<T extends { ms: number }>(measure: () => Promise<T>): Promise<T> {
  const runs: T[] = [];
  for (let run = 0; run < RUNS; run++) runs.push(await measure());
  return runs.sort((a, b) => a.ms - b.ms)[Math.floor(RUNS / 2)];
}

function reconcileLine(serve: ServeProcess): string {
  const line = serve.stderr.find((text) => text.includes("peers reconciled"));
  return line ? JSON.parse(line).message : "no reconcile line";
}

async function waitGone(path: string): Promise<void> {
  for (let tries = 0; tries < 100; tries++) {
    try {
      await Deno.lstat(path);
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${path} is still there`);
}

if (import.meta.main) await benchProvision(Number(Deno.args[0] ?? 10_000));

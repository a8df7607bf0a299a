/**
 * Benchmark of the metrics: what `--metrics-listen` adds to serve's start-up (prom-client is loaded only then),
 * against serve's start-up without it, alternating in the same run; then what one scrape of `/metrics` costs with
 * a fleet's worth of peers on the device (a fresh device read, and one from the 1 s cache), against `/healthz` on
 * the same listener. A real serve (userspace backend) in a test namespace; curl times the requests.
 *
 * Run (root): `deno run -A scripts/bench_metrics.ts [machines]`
 *
 * @module
 */

import { join } from "node:path";
import { NetNs } from "../tests/support/netns.ts";
import { ServeProcess } from "../tests/support/serve_process.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("../tests/support/talos_node.py", import.meta.url).pathname;
const STARTS = 7;

/** Runs the benchmark and prints its figures. */
export async function benchMetrics(machines = 1_000): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "siderolink-bench-metrics-" });
  await using ns = await NetNs.create("bmetrics");
  await ns.exec("ip", ["-6", "addr", "add", "fd5e:6::1/64", "dev", "lo", "nodad"]);
  const args = [
    ...["--state-dir", join(work, "state"), "--wireguard-endpoint", "[fd5e:6::1]:51821"],
    ...["--wireguard-backend", "userspace", "--interface", `slbm${Deno.pid % 10000}`],
    ...["--api-listen", "[fd5e:6::1]:8081", "--control-socket", join(work, "control.sock"), "--no-join-token"],
  ];
  const metrics = ["--metrics-listen", "[fd5e:6::1]:9091"];
  try {
    // The first start creates the state and the device; the measured ones start on both, as after a restart.
    await (await ServeProcess.start(args, { ns })).stop();
    const without: number[] = [];
    const withMetrics: number[] = [];
    for (let run = 0; run < STARTS; run++) {
      for (const [extra, times] of [[[], without], [metrics, withMetrics]] as const) {
        const started = performance.now();
        const serve = await ServeProcess.start([...args, ...extra], { ns });
        times.push(performance.now() - started);
        await serve.stop();
      }
    }
    const [base, measured] = [median(without), median(withMetrics)];
    console.log(
      `serve start-up until "serving" (median of ${STARTS}): with --metrics-listen ${measured.toFixed(0)} ms; ` +
        `baseline without ${base.toFixed(0)} ms; ratio ${(measured / base).toFixed(2)} ` +
        `(+${(measured - base).toFixed(0)} ms)`,
    );

    const serve = await ServeProcess.start([...args, ...metrics], { ns });
    try {
      await ns.exec(PYTHON, [NODE_SCRIPT, "provision-many", "[fd5e:6::1]:8081", String(machines), "8"]);
      const time = async (path: string) =>
        Number(
          await ns.exec("curl", [
            "-sS",
            "-g",
            "-o",
            "/dev/null",
            "-w",
            "%{time_total}",
            `http://[fd5e:6::1]:9091${path}`,
          ]),
        ) * 1000;
      const fresh: number[] = [];
      const cached: number[] = [];
      const health: number[] = [];
      for (let run = 0; run < 10; run++) {
        await new Promise((resolve) => setTimeout(resolve, 1100)); // past the cache: the next scrape reads the device
        fresh.push(await time("/metrics"));
        cached.push(await time("/metrics"));
        health.push(await time("/healthz"));
      }
      const baseline = median(health);
      console.log(
        `/metrics with ${machines} peers (median of 10): reading the device ${median(fresh).toFixed(1)} ms, ` +
          `from the cache ${median(cached).toFixed(1)} ms; baseline /healthz ${baseline.toFixed(1)} ms; ratios ` +
          `${(median(fresh) / baseline).toFixed(1)} and ${(median(cached) / baseline).toFixed(1)}`,
      );
    } finally {
      await serve.stop();
    }
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

if (import.meta.main) await benchMetrics(Number(Deno.args[0] ?? 1_000));

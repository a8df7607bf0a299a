/**
 * Measures the runtime defect behind the GOAWAY filter and the filter's effect, for the record (not a test):
 * for each configuration, RUNS fresh test servers each get ROUNDS grpc-js clients (under Deno) that make CALLS
 * calls then `close()`; prints per configuration how many servers crashed, after how many rounds, and the
 * survivors' RSS after each round.
 *
 * Usage: deno run -A tests/support/grpc_goaway_measure.ts [RUNS [ROUNDS [CALLS]]]   (defaults 10 3 1)
 *
 * @module
 */

import { spawnTestServer } from "./grpc_test_server.ts";

const CLIENT = new URL("./grpc_node_client.mjs", import.meta.url).pathname;

async function measure(runs: number, rounds: number, calls: number, unfiltered: boolean, mallocChecks: boolean) {
  const crashedAfter: number[] = [];
  const rss: number[][] = [];
  for (let run = 0; run < runs; run++) {
    await using server = await spawnTestServer({ unfiltered, mallocChecks });
    const series = [server.rssKiB()];
    for (let round = 1; round <= rounds; round++) {
      await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", CLIENT, `127.0.0.1:${server.port}`, String(calls), "1"],
        stdout: "null",
        stderr: "null",
      }).output();
      await new Promise((resolve) => setTimeout(resolve, 300));
      if (!server.alive()) {
        crashedAfter.push(round);
        break;
      }
      series.push(server.rssKiB());
    }
    if (server.alive()) rss.push(series);
  }
  const mib = (kib: number) => (kib / 1024).toFixed(1);
  console.log(
    `${unfiltered ? "unfiltered" : "filtered  "} malloc checks ${mallocChecks ? "on " : "off"} ${calls} call(s): ` +
      `${crashedAfter.length}/${runs} crashed (after rounds ${crashedAfter.join(",") || "-"}); ` +
      `RSS MiB by round: ${rss.map((series) => series.map(mib).join(" ")).join(" | ") || "-"}`,
  );
}

if (import.meta.main) {
  const [runs = 10, rounds = 3, calls = 1] = Deno.args.map(Number);
  for (const unfiltered of [true, false]) {
    for (const mallocChecks of [true, false]) await measure(runs, rounds, calls, unfiltered, mallocChecks);
  }
}

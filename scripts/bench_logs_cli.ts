/**
 * Benchmarks of `siderolink logs` (issue 5), printed as figures, not asserted:
 * - `--stdin` on 1,000,000 documented lines of 100 machines against `jq -R 'fromjson? | select(.server_uuid == "X")'`
 *   on the same input file, in the same run, as a ratio of wall and of CPU time;
 * - `logs <uuid> --tail 1000` against a real store of 100 machines × 5,000 lines behind a real control socket,
 *   with the runtime's start-up (a child process) and without it (the command run in this process);
 * - `--follow` latency from the store receiving a line (what serve's receiver calls) to the line on the child's stdout.
 *
 * Run: `./scripts/deno run --allow-all --frozen scripts/bench_logs_cli.ts` (needs `jq` on PATH for the ratio).
 *
 * @module
 */

import { join } from "node:path";
import { logsCommand } from "../src/cli/logs.ts";
import { logsRoute } from "../src/control/logs_route.ts";
import { startControlServer } from "../src/control/server.ts";
import { type KernelRecord, LineFormatter, type TalosLevel } from "../src/logs/record.ts";
import { LogStore } from "../src/logs/store.ts";
import { SqliteState } from "../src/state/sqlite.ts";
import { lineReader } from "../tests/support/line_reader.ts";

const MACHINES = 100;

/** `siderolink logs` as a child process. */
const LOGS = [
  Deno.execPath(),
  "run",
  "--allow-all",
  "--frozen",
  new URL("../cli.ts", import.meta.url).pathname,
  "logs",
];

const uuidOf = (machine: number) => `0f3c5a9e-2b1d-4c7e-9f00-${machine.toString(16).padStart(12, "0")}`;

/** serve's line formatter of each machine, with the annotations an inventory gives. */
function makeFormatters(): LineFormatter[] {
  return Array.from({ length: MACHINES }, (_, machine) =>
    new LineFormatter({
      server_uuid: uuidOf(machine),
      namespace: "default",
      cluster: machine < 50 ? "prod" : "staging",
      metal_machine: `metal-${machine}`,
      machine: `worker-${machine}`,
    }));
}

const FACILITIES = ["kern", "daemon", "user"];
const PRIORITIES: [string, TalosLevel][] = [["info", "info"], ["notice", "info"], ["warning", "warn"], [
  "err",
  "error",
]];

function record(seq: number): KernelRecord {
  const [priority, level] = PRIORITIES[seq % PRIORITIES.length];
  return {
    clock: 1_000_000 + seq * 1_337,
    facility: FACILITIES[seq % FACILITIES.length],
    msg: `eth0: renamed from veth${seq.toString(36)}; link state changed to up, carrier ${seq % 7} detected\n`,
    priority,
    seq,
    "talos-level": level,
    "talos-time": new Date(Date.UTC(2026, 2, 2, 8) + seq * 10).toISOString(),
  };
}

/** Runs a shell command under bash's `time`; its stdout and stderr go where `command` says. */
async function timeShell(command: string): Promise<{ wallMs: number; cpuMs: number }> {
  const { code, stderr } = await new Deno.Command("bash", {
    args: ["-c", `TIMEFORMAT='%R %U %S'; time (${command})`],
    stdout: "null",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr).trim();
  if (code !== 0) throw new Error(`${command} failed: ${text}`);
  const [wall, user, system] = text.split("\n").at(-1)!.split(" ").map(Number);
  return { wallMs: wall * 1000, cpuMs: (user + system) * 1000 };
}

const quote = (text: string) => `'${text.replaceAll("'", "'\\''")}'`;
const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
const percentile = (values: number[], p: number) =>
  [...values].sort((a, b) => a - b)[Math.min(values.length - 1, Math.floor(values.length * p))];
const ms = (value: number) => `${value.toFixed(1)} ms`;

async function countLines(path: string, prefix = ""): Promise<number> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter((line) => line.length > 0 && line.startsWith(prefix)).length;
}

/** `--stdin` against jq on the same 1,000,000-line file. */
async function benchStdin(dir: string, lines: number): Promise<void> {
  const input = join(dir, "serverlogs.ndjson");
  const formatters = makeFormatters();
  {
    using file = await Deno.open(input, { write: true, create: true, truncate: true });
    const encoder = new TextEncoder();
    for (let start = 0; start < lines; start += 10_000) {
      const batch: string[] = [];
      for (let seq = start; seq < Math.min(lines, start + 10_000); seq++) {
        // Now and then a line that is no JSON, as in a real container log.
        batch.push(
          seq % 997 === 0 ? "W0302 08:00:00.000 some other log line" : formatters[seq % MACHINES].format(record(seq)),
        );
      }
      await file.write(encoder.encode(`${batch.join("\n")}\n`));
    }
  }
  const size = (await Deno.stat(input)).size;
  // Written-back input, so that neither side pays for the kernel flushing it.
  await new Deno.Command("sync").output();
  const uuid = uuidOf(7);
  const ours = join(dir, "ours.out"), theirs = join(dir, "jq.out");
  const runOurs = () => timeShell(`${LOGS.map(quote).join(" ")} --stdin ${uuid} < ${quote(input)} > ${quote(ours)}`);
  // Ours before and after jq, so that both see the same conditions on a shared machine.
  const runs = [await runOurs(), await runOurs(), await runOurs()];
  const jq = await timeShell(
    `jq -R ${quote(`fromjson? | select(.server_uuid == "${uuid}")`)} < ${quote(input)} > ${quote(theirs)}`,
  );
  runs.push(await runOurs(), await runOurs(), await runOurs());
  const wall = median(runs.map((run) => run.wallMs)), cpu = median(runs.map((run) => run.cpuMs));
  const [ourCount, jqCount] = [await countLines(ours), await countLines(theirs, "{")];
  console.log(
    `--stdin: ${lines.toLocaleString("en")} lines (${(size / 2 ** 20).toFixed(0)} MiB), ${MACHINES} machines`,
  );
  console.log(
    `  siderolink logs --stdin <uuid>: ${ms(wall)} wall, ${ms(cpu)} CPU (median of 6, start-up included; ` +
      `best ${ms(Math.min(...runs.map((run) => run.wallMs)))} wall)`,
  );
  console.log(`  jq -R 'fromjson? | select(.server_uuid == "X")': ${ms(jq.wallMs)} wall, ${ms(jq.cpuMs)} CPU`);
  console.log(
    `  ratio: ${(jq.wallMs / wall).toFixed(1)}× faster by wall time, ${(jq.cpuMs / cpu).toFixed(1)}× by CPU time ` +
      `(goal ≥ 20×); lines found: ${ourCount} by logs, ${jqCount} by jq${ourCount === jqCount ? "" : " (MISMATCH)"}`,
  );
  await Deno.remove(input);
}

/** Writes nowhere, counting bytes. */
function discard() {
  let bytes = 0;
  return {
    output: {
      write: (chunk: Uint8Array) => {
        bytes += chunk.length;
        return Promise.resolve(chunk.length);
      },
      isTerminal: () => false,
    },
    bytes: () => bytes,
  };
}

/** `logs <uuid> --tail 1000` against 100 × 5,000 stored lines, and `--follow` latency. */
async function benchDaemon(dir: string, perMachine: number): Promise<void> {
  using state = SqliteState.open(join(dir, "state"), "create");
  const store = new LogStore(state.db, { retainLines: perMachine });
  const formatters = makeFormatters();
  const filling = performance.now();
  for (let seq = 0; seq < MACHINES * perMachine; seq++) {
    const machine = seq % MACHINES;
    const line = formatters[machine].format(record(seq));
    const [, level] = PRIORITIES[seq % PRIORITIES.length];
    store.add({
      uuid: uuidOf(machine),
      boot: "1772438400",
      seq,
      timeMs: Date.UTC(2026, 2, 2, 8) + seq * 10,
      level,
      line,
    });
  }
  store.flush();
  const filled = performance.now() - filling;
  const socket = join(dir, "control.sock");
  await using _server = await startControlServer(socket, { "/v1/logs": logsRoute(store) });
  const args = [uuidOf(42), "--tail", "1000", "--control-socket", socket];
  console.log(
    `logs <uuid> --tail 1000: store of ${MACHINES} machines × ${perMachine.toLocaleString("en")} lines ` +
      `(filled in ${ms(filled)})`,
  );

  const inProcess: number[] = [];
  let bytes = 0;
  for (let i = 0; i < 21; i++) {
    const sink = discard();
    const start = performance.now();
    await logsCommand(Deno.stdin, sink.output).exitOverride().parseAsync(args, { from: "user" });
    inProcess.push(performance.now() - start);
    bytes = sink.bytes();
  }
  console.log(
    `  without start-up (in process, over the socket): median ${ms(median(inProcess.slice(1)))}, ` +
      `p90 ${ms(percentile(inProcess.slice(1), 0.9))} (first ${ms(inProcess[0])}), ${bytes} bytes (goal < 50 ms)`,
  );

  const withStartup: number[] = [], startupOnly: number[] = [];
  for (let i = 0; i < 7; i++) {
    withStartup.push((await timeShell(`${LOGS.map(quote).join(" ")} ${args.map(quote).join(" ")} > /dev/null`)).wallMs);
    startupOnly.push((await timeShell(`${LOGS.map(quote).join(" ")} --help > /dev/null`)).wallMs);
  }
  console.log(
    `  with the runtime's start-up (child process): median ${ms(median(withStartup))}; ` +
      `start-up alone (logs --help): median ${ms(median(startupOnly))}`,
  );

  await benchFollow(store, formatters, socket, perMachine * MACHINES);
  store.close();
}

/** Latency from `store.add` (serve's receipt) to the line on a `logs -f` child's stdout. */
async function benchFollow(store: LogStore, formatters: LineFormatter[], socket: string, firstSeq: number) {
  const child = new Deno.Command(LOGS[0], {
    args: [...LOGS.slice(1), "-f", "--tail", "1", "--control-socket", socket, uuidOf(3)],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  const send = (seq: number) => {
    const line = formatters[3].format(record(seq));
    store.add({ uuid: uuidOf(3), boot: "1772438400", seq, timeMs: Date.now(), level: "info", line });
    return line;
  };
  // The history's line says the child is subscribed: the route subscribes before it answers.
  await lines.next();
  const latencies: number[] = [];
  for (let i = 1; i <= 200; i++) {
    const received = performance.now();
    const line = send(firstSeq + 1000 + i);
    if ((await lines.next()) !== line) throw new Error("lines out of order");
    latencies.push(performance.now() - received);
    await new Promise((resolve) => setTimeout(resolve, Math.random() * 10));
  }
  console.log(
    `logs -f latency, store receipt to the child's stdout (200 lines; includes the store's batching): ` +
      `p50 ${ms(percentile(latencies, 0.5))}, p90 ${ms(percentile(latencies, 0.9))}, ` +
      `max ${ms(Math.max(...latencies))} (goal < 100 ms)`,
  );
  child.kill();
  await lines.cancel();
  await child.status;
}

/**
 * Runs every `logs` benchmark and prints the figures.
 *
 * @param options.lines lines of the `--stdin` input (1,000,000)
 * @param options.perMachine stored lines per machine (5,000)
 */
export async function benchLogsCli(options: { lines?: number; perMachine?: number } = {}): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "bench-logs-" });
  try {
    await benchDaemon(dir, options.perMachine ?? 5_000);
    await benchStdin(dir, options.lines ?? 1_000_000);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await benchLogsCli();

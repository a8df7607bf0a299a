/**
 * Benchmark of WireGuard over gRPC against plain UDP WireGuard, in the same run: one serve (userspace backend,
 * wireguard-go; this host's kernel has no WireGuard) in a test namespace, and two machines, each in its own namespace
 * with its own wireguard-go: one on UDP, one whose datagrams go through the node-side relay of the tests (Python
 * grpcio, tests/support/grpc_tunnel_node.py) inside CreateStream. Round-trip time by ping6 through each tunnel, and
 * TCP throughput by iperf3 (machine to server, the way logs flow, and back), the two machines taking turns, each
 * figure the median of ROUNDS. The tunnel's figures include the test relay's own cost (Talos runs a Go one); the CPU
 * serve and the relay use meanwhile, and how busy the whole machine was during each transport's runs, tell a
 * throughput bounded by the CPU from one bounded elsewhere.
 *
 * Run (root; wireguard-go, wg, iperf3, python3-grpcio): `deno run -A scripts/bench_grpc_tunnel.ts [seconds [rounds]]`
 * (defaults 4 and 3)
 *
 * @module
 */

import { join } from "node:path";
import { GrpcTunnelRelay } from "../tests/support/grpc_tunnel_relay.ts";
import { linkNamespaces, NetNs } from "../tests/support/netns.ts";
import { ServeProcess } from "../tests/support/serve_process.ts";
import { TalosTunnel } from "../tests/support/talos_tunnel.ts";

const UDP_SIDE = ["fd5e:d::1", "fd5e:d::2"] as const;
const GRPC_SIDE = ["fd5e:e::1", "fd5e:e::2"] as const;
const API = `[${UDP_SIDE[0]}]:8081`;
const TOKEN = "bench-grpc-tunnel";
const RELAY_PORT = 51999;
const IPERF_PORT = "5201";
const PINGS = 200;
/** The kernel's USER_HZ, in which /proc/<pid>/stat counts CPU time (100 on Linux for x86). */
const CLOCK_TICKS = 100;

/** One machine of the benchmark: its tunnel and how it reaches the server. */
interface Machine {
  transport: "udp" | "grpc";
  node: TalosTunnel;
}

/** The average round trip of `PINGS` echoes 10 ms apart through the machine's tunnel, in ms. */
async function roundTrip(machine: Machine, server: string): Promise<number> {
  const output = await machine.node.ns.exec("ping", ["-6", "-q", "-c", String(PINGS), "-i", "0.01", server]);
  const rtt = output.match(/= [\d.]+\/([\d.]+)\/[\d.]+\/[\d.]+ ms/);
  if (!rtt) throw new Error(`no round-trip summary from ping: ${output}`);
  return Number(rtt[1]);
}

/** TCP throughput through the machine's tunnel for `seconds`, machine to server or (`reverse`) back, in Mbit/s. */
async function throughput(machine: Machine, server: string, seconds: number, reverse: boolean): Promise<number> {
  const args = ["-c", server, "-p", IPERF_PORT, "-t", String(seconds), "-J", ...(reverse ? ["-R"] : [])];
  const report = JSON.parse(await machine.node.ns.exec("iperf3", args));
  if (report.error) throw new Error(`iperf3: ${report.error}`);
  return report.end.sum_received.bits_per_second / 1e6;
}

/** CPU seconds (user and system, all threads) that process `pid` has used so far, from /proc. */
async function cpuSeconds(pid: number): Promise<number> {
  // After the command name in parentheses (which may hold blanks): field 3 is the state, 14 and 15 utime and stime.
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
}

/** The machine's busy and total CPU time so far, in clock ticks over all cores (the `cpu` line of /proc/stat). */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const [, ...fields] = (await Deno.readTextFile("/proc/stat")).split("\n")[0].trim().split(/\s+/);
  // user nice system idle iowait irq softirq steal (guest time is already inside user).
  const ticks = fields.slice(0, 8).map(Number);
  const total = ticks.reduce((sum, value) => sum + value, 0);
  return { busy: total - ticks[3] - ticks[4], total };
}

/** Runs the benchmark and prints its figures. */
export async function benchGrpcTunnel(seconds = 4, rounds = 3): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "siderolink-bench-grpc-tunnel-" });
  const suffix = Deno.pid % 10000;
  await using serverNs = await NetNs.create("bgsrv");
  await using udpNs = await NetNs.create("bgudp");
  await using grpcNs = await NetNs.create("bggrpc");
  await linkNamespaces(serverNs, UDP_SIDE[0], udpNs, UDP_SIDE[1]);
  const [, grpcIf] = await linkNamespaces(serverNs, GRPC_SIDE[0], grpcNs, GRPC_SIDE[1]);
  // The tunnelling machine reaches the Provision API's address through its own link; it sends no UDP to the server.
  await grpcNs.exec("ip", ["-6", "route", "add", `${UDP_SIDE[0]}/128`, "via", GRPC_SIDE[0], "dev", grpcIf]);
  const args = [
    ...["--state-dir", join(work, "state"), "--wireguard-endpoint", `[${UDP_SIDE[0]}]:51821`],
    ...["--wireguard-backend", "userspace", "--interface", `slbg${suffix}`, "--api-listen", API],
    ...["--control-socket", join(work, "control.sock"), "--join-token", TOKEN],
  ];
  const serve = await ServeProcess.start(args, { ns: serverNs });
  let relay: GrpcTunnelRelay | undefined;
  let iperf: Deno.ChildProcess | undefined;
  try {
    const udp: Machine = { transport: "udp", node: await TalosTunnel.start(udpNs, `slbu${suffix}`) };
    const grpc: Machine = { transport: "grpc", node: await TalosTunnel.start(grpcNs, `slbt${suffix}`) };
    const udpReply = await udp.node.provision(API, crypto.randomUUID(), TOKEN);
    await udp.node.configure(udpReply);
    const server = udpReply.server_address;
    await udp.node.reach(server);
    const grpcReply = await grpc.node.provision(API, crypto.randomUUID(), TOKEN, true);
    relay = GrpcTunnelRelay.start(grpcNs, API, grpcReply.grpc_peer_addr_port, RELAY_PORT);
    await relay.waitFor((event) => event.event === "open");
    await grpc.node.configure(grpcReply, relay.endpoint);
    await grpc.node.reach(server);

    iperf = new Deno.Command("ip", {
      args: serverNs.wrap("iperf3", ["-s", "-B", server, "-p", IPERF_PORT]),
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    // Warm-up, and the server's listener ready: one short run each.
    for (let attempt = 0;; attempt++) {
      try {
        for (const machine of [udp, grpc]) await throughput(machine, server, 1, false);
        break;
      } catch (error) {
        if (attempt >= 20) throw error;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    }

    const figures = new Map<string, number[]>();
    const record = (key: string, value: number) => figures.set(key, [...(figures.get(key) ?? []), value]);
    // Where the time goes during the TCP runs: serve's and the relay's CPU per second of run, and how busy the whole
    // machine was (other helpers' work included), per transport.
    const cpu = { serve: 0, relay: 0, wall: 0 };
    const busy = { udp: { busy: 0, total: 0 }, grpc: { busy: 0, total: 0 } };
    for (let round = 0; round < rounds; round++) {
      for (const machine of [udp, grpc]) {
        record(`rtt ${machine.transport}`, await roundTrip(machine, server));
        const [ticks, serveCpu, relayCpu, started] = [
          await machineTicks(),
          await cpuSeconds(serve.pid),
          await cpuSeconds(relay.pid),
          performance.now(),
        ];
        record(`up ${machine.transport}`, await throughput(machine, server, seconds, false));
        record(`down ${machine.transport}`, await throughput(machine, server, seconds, true));
        const ticksAfter = await machineTicks();
        busy[machine.transport].busy += ticksAfter.busy - ticks.busy;
        busy[machine.transport].total += ticksAfter.total - ticks.total;
        if (machine.transport === "grpc") {
          cpu.serve += await cpuSeconds(serve.pid) - serveCpu;
          cpu.relay += await cpuSeconds(relay.pid) - relayCpu;
          cpu.wall += (performance.now() - started) / 1000;
        }
      }
    }
    const row = (what: string, key: string, unit: string, digits: number) => {
      const [tunnel, plain] = [median(figures.get(`${key} grpc`)!), median(figures.get(`${key} udp`)!)];
      console.log(
        `${what}: over gRPC ${tunnel.toFixed(digits)} ${unit}, plain UDP ${plain.toFixed(digits)} ${unit} ` +
          `(same run), ratio ${(tunnel / plain).toFixed(2)} (medians of ${rounds})`,
      );
    };
    row(`ping6 round trip (average of ${PINGS})`, "rtt", "ms", 3);
    row(`TCP throughput machine to server (iperf3, ${seconds} s)`, "up", "Mbit/s", 0);
    row(`TCP throughput server to machine (iperf3 -R, ${seconds} s)`, "down", "Mbit/s", 0);
    const percent = (part: number, whole: number) => `${(part / whole * 100).toFixed(0)}%`;
    console.log(
      `CPU during the TCP runs over gRPC: serve (gRPC and its side of the relay; wireguard-go apart) ` +
        `${percent(cpu.serve, cpu.wall)} of a core, the Python relay ${percent(cpu.relay, cpu.wall)}; ` +
        `the whole machine (${navigator.hardwareConcurrency} cores) busy ${
          percent(busy.grpc.busy, busy.grpc.total)
        }, ` +
        `during those over UDP ${percent(busy.udp.busy, busy.udp.total)}`,
    );
  } finally {
    iperf?.kill("SIGKILL");
    await iperf?.status;
    await relay?.[Symbol.asyncDispose]();
    await serve.stop("SIGKILL");
    await Deno.remove(work, { recursive: true });
  }
}

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
}

if (import.meta.main) {
  const [seconds, rounds] = Deno.args.map(Number);
  await benchGrpcTunnel(seconds || undefined, rounds || undefined);
}

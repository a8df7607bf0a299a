/**
 * Benchmark of kernel-log ingest: records sent over concurrent loopback TCP connections, one machine each
 * (Python clients bound to 127.0.0.2, 127.0.0.3, …, since a Deno client cannot choose its source address),
 * through the whole path (split, prove canonical and annotate, de-duplicate, store, stdout to /dev/null), next to
 * the raw TCP throughput of the same bytes and the whole path with the fast path off (`JSON.parse` and a rebuilt
 * line for every record), all measured in the same run. Each figure is timed from the first accepted connection
 * to the last line handled (and, with the store, stored and written), in wall time and in this process's CPU
 * time (the clients are other processes). Then the cost of each stage, in-process on the same records.
 *
 * Run: `deno run -A scripts/bench_log_ingest.ts [records] [connections]`
 *
 * @module
 */

import { join } from "node:path";
import type { MachineIdentity } from "../src/machines/identity.ts";
import { SqliteState } from "../src/state/sqlite.ts";
import { annotations } from "../src/machines/identity.ts";
import { ByteLineSplitter } from "../src/logs/byte_lines.ts";
import { LineSplicer } from "../src/logs/canonical.ts";
import { MachineDedupe } from "../src/logs/dedupe.ts";
import { LineWriter } from "../src/logs/line_writer.ts";
import { LogPipeline } from "../src/logs/pipeline.ts";
import { eachLine, LogReceiver } from "../src/logs/receiver.ts";
import { LineFormatter, parseRecord, recordTimeMs } from "../src/logs/record.ts";
import { LineSplitter, MAX_LINE_BYTES } from "../src/logs/splitter.ts";
import { LogStore } from "../src/logs/store.ts";

/** Benchmark settings. */
export interface LogIngestBenchOptions {
  /** Records in all (default 250,000). */
  records?: number;
  /** Concurrent connections, one machine each (default 4). */
  connections?: number;
  /** Python interpreter for the clients (default /usr/bin/python3). */
  python?: string;
}

/** Lines the store could not take, and lines stdout dropped (its writes fell behind): both should be 0. */
export interface Counted {
  stored: number;
  notStored: number;
  notPrinted: number;
}

/** One measured run. */
export interface IngestFigure {
  lines: number;
  /** Wall time from the first accepted connection to the last line handled. */
  seconds: number;
  linesPerSecond: number;
  megabytesPerSecond: number;
  /** CPU time of this process (all its threads) over the same span, from /proc/self/stat. */
  cpuSeconds: number;
  /** CPU time of the main thread alone (the JavaScript event loop; the store's worker and I/O are other threads). */
  mainThreadCpuSeconds: number;
  /** Lines per CPU-second: the figure that other load on a shared machine disturbs least. */
  linesPerCpuSecond: number;
}

/** The benchmark's result. */
export interface LogIngestBenchResult {
  records: number;
  connections: number;
  bytes: number;
  /** The same bytes read and discarded. */
  rawTcp: IngestFigure;
  /** Split, parse, de-duplicate, annotate, stdout; no store. */
  withoutStore: IngestFigure & { notPrinted: number };
  /** The whole path, as serve runs it. */
  wholePath: IngestFigure & Counted;
  /** The whole path with the fast path off (`SIDEROLINK_LOGS_FAST_PATH=0`). */
  wholePathFullOnly: IngestFigure & Counted;
  stages: StageCosts;
}

/**
 * What each stage costs the main thread in µs per line, in-process on the same records (no sockets: the raw TCP
 * figure is the reading), each the fastest of three rounds.
 */
export interface StageCosts {
  /** Finding each line's end by search in reads of 256 KiB (the full path's split; the fast path needs none). */
  split: number;
  /** Proving each line canonical and splicing the annotations in, which also finds the line's end (canonical.ts). */
  splice: number;
  /** Record time and de-duplication. */
  dedupe: number;
  /**
   * Stdout: the lines written one after the other with their `\n` (as in the store's batch), and after each read
   * copied to the stdout writer at once.
   */
  stdout: number;
  /** What the full path costs for the same lines instead of the splice: split, parse, sorted line, UTF-8. */
  fullPathInstead: number;
  /**
   * Handing lines to the store, on the main thread: main-thread CPU of a store run (the lines written into the
   * store's batch, and from there to stdout, as the pipeline does) less the stages above.
   */
  storeHandOff: number;
  /** The store's worker: CPU of the other threads per line while the store writes. */
  storeWorker: number;
  /** Lines per second of that store run (split, splice, de-duplicate and store, no sockets), wall time. */
  storeLinesPerSecond: number;
}

const CLIENT = `
import socket, sys
source, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
data = open(path, "rb").read()
s = socket.create_connection(("127.0.0.1", port), source_address=(source, 0))
s.sendall(data)
s.shutdown(socket.SHUT_WR)
s.recv(1)
`;

/**
 * Runs the benchmark and returns its figures.
 *
 * @example
 * ```ts
 * const result = await benchLogIngest({ records: 250_000, connections: 4 });
 * console.log(result.wholePath.linesPerSecond, result.rawTcp.megabytesPerSecond);
 * ```
 */
export async function benchLogIngest(options: LogIngestBenchOptions = {}): Promise<LogIngestBenchResult> {
  const records = options.records ?? 250_000;
  const connections = options.connections ?? 4;
  const python = options.python ?? "/usr/bin/python3";
  const dir = await Deno.makeTempDir({ prefix: "siderolink-bench-" });
  try {
    const sources = Array.from({ length: connections }, (_, i) => `127.0.0.${i + 2}`);
    const files = await writeRecords(dir, sources.length, Math.ceil(records / connections));
    const bytes = files.reduce((n, file) => n + Deno.statSync(file.path).size, 0);
    const lines = files.reduce((n, file) => n + file.lines, 0);
    const identities = new Map<string, MachineIdentity>(sources.map((source, i) => [
      `::ffff:${source}`,
      { serverUuid: crypto.randomUUID(), namespace: "bench", cluster: "bench", machine: `machine-${i}` },
    ]));
    const send = (port: number) =>
      Promise.all(sources.map(async (source, i) => {
        const { success, stderr } = await new Deno.Command(python, {
          args: ["-c", CLIENT, source, String(port), files[i].path],
          stderr: "piped",
        }).output();
        if (!success) throw new Error(`bench client failed: ${new TextDecoder().decode(stderr)}`);
      }));

    const rawTcp = figure(lines, bytes, await rawReceive(send));

    const bare = await pipelineRun(dir, identities, send, false, true);
    const whole = await pipelineRun(dir, identities, send, true, true);
    const fullOnly = await pipelineRun(dir, identities, send, true, false);
    return {
      records: lines,
      connections,
      bytes,
      rawTcp,
      withoutStore: { ...figure(lines, bytes, bare), notPrinted: bare.notPrinted },
      wholePath: { ...figure(lines, bytes, whole), ...counted(whole) },
      wholePathFullOnly: { ...figure(lines, bytes, fullOnly), ...counted(fullOnly) },
      stages: await stageCosts(dir, files.map((file) => Deno.readFileSync(file.path)), [...identities.values()]),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Talos-shaped records with this machine's kernel messages, one file per connection. */
async function writeRecords(dir: string, files: number, perFile: number): Promise<{ path: string; lines: number }[]> {
  const messages = await kernelMessages();
  const boot = Date.UTC(2026, 2, 2, 8, 0, 0);
  const priorities = ["err", "warning", "notice", "info", "info", "info", "debug"];
  const levels = ["error", "warn", "info", "info", "info", "info", "debug"];
  return await Promise.all(Array.from({ length: files }, async (_, file) => {
    const out: string[] = [];
    for (let seq = 0; seq < perFile; seq++) {
      const clock = 1_000_000 + seq * 1_337;
      const p = seq % priorities.length;
      out.push(JSON.stringify({
        clock,
        facility: "kern",
        msg: `${messages[(seq + file) % messages.length]}\n`,
        priority: priorities[p],
        seq,
        "talos-level": levels[p],
        "talos-time": new Date(boot + clock / 1000).toISOString().replace(/0*Z$/, "Z").replace(/\.Z$/, "Z"),
      }));
    }
    out.push("");
    const path = join(dir, `records-${file}.jsonl`);
    await Deno.writeTextFile(path, out.join("\n"));
    return { path, lines: perFile };
  }));
}

async function kernelMessages(): Promise<string[]> {
  try {
    const { stdout } = await new Deno.Command("dmesg", { args: ["-J"], stdout: "piped", stderr: "null" }).output();
    const messages = (JSON.parse(new TextDecoder().decode(stdout)).dmesg as { msg: string }[]).map((entry) =>
      entry.msg
    );
    if (messages.length > 0) return messages;
  } catch { /* no dmesg here: use a typical line */ }
  return ["eth0: Link is Up - 1Gbps/Full - flow control rx/tx"];
}

/** A span of wall and CPU time, started at the first accepted connection. */
class Span {
  #wall = 0;
  #cpu = 0;
  #mainCpu = 0;

  /** Starts the span (once). */
  start(): void {
    if (this.#wall !== 0) return;
    this.#wall = performance.now();
    this.#cpu = cpuSeconds("/proc/self/stat");
    this.#mainCpu = cpuSeconds(MAIN_THREAD_STAT);
  }

  /** Wall and CPU seconds since the start. */
  end(): Run {
    return {
      seconds: (performance.now() - this.#wall) / 1000,
      cpuSeconds: cpuSeconds("/proc/self/stat") - this.#cpu,
      mainThreadCpuSeconds: cpuSeconds(MAIN_THREAD_STAT) - this.#mainCpu,
    };
  }
}

/** The main thread's own counters (its thread id is the process id). */
const MAIN_THREAD_STAT = `/proc/self/task/${Deno.pid}/stat`;

/** One timed run. */
interface Run {
  seconds: number;
  cpuSeconds: number;
  mainThreadCpuSeconds: number;
}

/** User and system CPU time in a /proc stat file (fields 14 and 15, in ticks of 10 ms). */
function cpuSeconds(statFile: string): number {
  const stat = Deno.readTextFileSync(statFile);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Reads and discards every byte. */
async function rawReceive(send: (port: number) => Promise<unknown>): Promise<Run> {
  using listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const span = new Span();
  const readers: Promise<void>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) {
      span.start();
      readers.push((async () => {
        const buffer = new Uint8Array(256 * 1024);
        while (await conn.read(buffer) !== null) { /* discard */ }
        conn.close();
      })());
    }
  })().catch(() => {});
  await send(listener.addr.port);
  await Promise.all(readers);
  const result = span.end();
  listener.close();
  await accepting;
  return result;
}

/** Runs the kernel-log path with or without the store. */
async function pipelineRun(
  dir: string,
  identities: Map<string, MachineIdentity>,
  send: (port: number) => Promise<unknown>,
  withStore: boolean,
  fastPath: boolean,
): Promise<Run & Counted> {
  using state = SqliteState.open(join(dir, `state-${withStore}-${fastPath}`), "create");
  using devNull = await Deno.open("/dev/null", { write: true });
  const span = new Span();
  const identify = (address: string) => {
    span.start();
    return identities.get(address);
  };
  if (withStore) {
    const logs = await LogPipeline.start({
      hostname: "127.0.0.1",
      port: 0,
      identify,
      db: state.db,
      output: devNull,
      fastPath,
    });
    await send(logs.receiver.port);
    await logs.close(); // waits for the connections, commits the store, writes out stdout
    const { store, stdout } = logs.counters;
    return { ...span.end(), stored: store.stored, notStored: store.failed, notPrinted: stdout.dropped };
  }
  const writer = new LineWriter(devNull);
  const receiver = await LogReceiver.listen({
    hostname: "127.0.0.1",
    port: 0,
    identify,
    sink: eachLine((_, bytes) => writer.write(bytes)),
    backpressure: () => writer.turn(),
    fastPath,
  });
  await send(receiver.port);
  await receiver.close();
  await writer.close();
  return { ...span.end(), stored: 0, notStored: 0, notPrinted: writer.counters.dropped };
}

/** The records' bytes as reads of this size. */
const READ_BYTES = 256 * 1024;

/** Runs the stages up to `upTo` over every file (one machine each) in-process; returns the lines accepted. */
function runStages(
  files: Uint8Array[],
  identities: MachineIdentity[],
  upTo: "split" | "splice" | "dedupe" | "stdout" | "full",
  store?: LogStore,
): Promise<number> | number {
  const writer = new LineWriter({ write: (bytes) => Promise.resolve(bytes.length) }, Infinity);
  // Where lines are written without the store: one after the other with their `\n` (the stdout stage), or each
  // over the last one.
  const plain = { buffer: new Uint8Array(READ_BYTES * 4), used: 0, lines: 0 };
  const room = (bytes: number) => {
    if (!store) {
      if (plain.buffer.length < plain.used + bytes + 1) plain.buffer = new Uint8Array((plain.used + bytes + 1) * 2);
      return upTo === "stdout" ? plain.used : 0;
    }
    return store.room(bytes);
  };
  const endOfRead = () => {
    if (store) return store.passOn();
    if (upTo === "stdout") writer.writeLines(plain.buffer.subarray(0, plain.used), plain.lines);
    plain.used = plain.lines = 0;
  };
  let accepted = 0;
  const perFile = files.map((file, f) => {
    const identity = identities[f];
    const splicer = new LineSplicer(annotations(identity));
    const formatter = new LineFormatter(annotations(identity));
    const dedupe = new MachineDedupe();
    const out = new Uint8Array(MAX_LINE_BYTES * 4);
    const full = new LineSplitter((text) => {
      const record = parseRecord(text).record!;
      const line = formatter.format(record);
      encoder.encodeInto(line, out);
      const timeMs = recordTimeMs(record);
      if (dedupe.admit(record.seq as number, record.clock as number, timeMs) !== undefined) accepted++;
    }, () => {});
    const lines = upTo === "full" ? full : new ByteLineSplitter(
      (bytes, start, limit, complete) => {
        if (upTo === "split") { // the line's end found by search, as the full path's splitter needs it
          const newline = bytes.indexOf(0x0a, start);
          accepted++;
          return complete ? limit : newline >= 0 && newline < limit ? newline : -1;
        }
        const at = room(limit - start + splicer.extraBytes);
        const length = splicer.splice(bytes, start, limit, store ? store.buffer : plain.buffer, complete, at);
        if (length < 0) return -1;
        if (upTo === "splice") return (accepted++, splicer.lineEnd);
        const timeMs = splicer.timeMs();
        const boot = dedupe.admit(splicer.seq, splicer.clock, timeMs);
        if (boot === undefined) return splicer.lineEnd;
        accepted++;
        if (store) {
          store.take(identity.serverUuid, length, { boot, seq: splicer.seq!, timeMs: timeMs!, level: splicer.level });
        } else if (upTo === "stdout") {
          plain.buffer[at + length] = 0x0a;
          plain.used = at + length + 1;
          plain.lines++;
        }
        return splicer.lineEnd;
      },
      full,
      MAX_LINE_BYTES,
    );
    return { file, lines };
  });
  if (!store) {
    for (const { file, lines } of perFile) {
      for (let at = 0; at < file.length; at += READ_BYTES) {
        lines.push(file.subarray(at, at + READ_BYTES));
        endOfRead();
      }
      lines.end();
      endOfRead();
    }
    return accepted;
  }
  // With the store, as the receiver does: yield between reads (the worker's answers come as messages), and wait
  // while the store is behind.
  // A message to itself is a task of its own, like a read (a timer would wait 4 ms once nested).
  const channel = new MessageChannel();
  const nextTask = () =>
    new Promise((resolve) => {
      channel.port1.onmessage = resolve;
      channel.port2.postMessage(0);
    });
  return (async () => {
    for (const { file, lines } of perFile) {
      for (let at = 0; at < file.length; at += READ_BYTES) {
        await (store.backlog() ?? nextTask());
        lines.push(file.subarray(at, at + READ_BYTES));
        endOfRead();
      }
      lines.end();
      endOfRead();
    }
    store.flush();
    channel.port1.close();
    return accepted;
  })();
}

const encoder = new TextEncoder();

/** Per-stage costs (see {@link StageCosts}). */
async function stageCosts(dir: string, files: Uint8Array[], identities: MachineIdentity[]): Promise<StageCosts> {
  const lines = files.reduce((n, file) => n + file.reduce((count, byte) => count + (byte === 0x0a ? 1 : 0), 0), 0);
  const fastest = (upTo: Parameters<typeof runStages>[2]) => {
    let best = Infinity;
    for (let round = 0; round < 3; round++) {
      const started = performance.now();
      runStages(files, identities, upTo);
      best = Math.min(best, performance.now() - started);
    }
    return best * 1000 / lines; // µs per line
  };
  const split = fastest("split"), splice = fastest("splice"), dedupe = fastest("dedupe");
  const stdout = fastest("stdout"), full = fastest("full");
  let store = { wall: Infinity, main: 0, other: 0 };
  for (let round = 0; round < 3; round++) {
    using state = SqliteState.open(join(dir, `stages-${round}`), "create");
    const writer = new LineWriter({ write: (bytes) => Promise.resolve(bytes.length) }, Infinity);
    const logs = new LogStore(state.db, { tee: (bytes, lines) => writer.writeLines(bytes, lines) });
    const span = new Span();
    span.start();
    await runStages(files, identities, "dedupe", logs);
    const run = span.end();
    logs.close();
    if (run.seconds < store.wall) {
      store = { wall: run.seconds, main: run.mainThreadCpuSeconds, other: run.cpuSeconds - run.mainThreadCpuSeconds };
    }
  }
  const round2 = (us: number) => Math.round(us * 100) / 100;
  return {
    split: round2(split),
    splice: round2(splice),
    dedupe: round2(dedupe - splice),
    stdout: round2(stdout - dedupe),
    fullPathInstead: round2(full - (dedupe - splice)),
    storeHandOff: round2(Math.max(0, store.main * 1e6 / lines - stdout)),
    storeWorker: round2(store.other * 1e6 / lines),
    storeLinesPerSecond: Math.round(lines / store.wall),
  };
}

function counted(run: Counted): Counted {
  return { stored: run.stored, notStored: run.notStored, notPrinted: run.notPrinted };
}

function figure(lines: number, bytes: number, run: Run): IngestFigure {
  return {
    lines,
    seconds: Math.round(run.seconds * 1000) / 1000,
    linesPerSecond: Math.round(lines / run.seconds),
    megabytesPerSecond: Math.round(bytes / run.seconds / 1e5) / 10,
    cpuSeconds: Math.round(run.cpuSeconds * 100) / 100,
    mainThreadCpuSeconds: Math.round(run.mainThreadCpuSeconds * 100) / 100,
    linesPerCpuSecond: Math.round(lines / Math.max(run.cpuSeconds, 0.01)),
  };
}

if (import.meta.main) {
  const [records, connections] = Deno.args.map(Number);
  const result = await benchLogIngest({ records: records || undefined, connections: connections || undefined });
  console.log(JSON.stringify(result, null, 2));
}

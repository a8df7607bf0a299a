/**
 * The kernel-log path for real: the receiver, store and stdout writer run as their own process inside a test
 * namespace; Python clients bound to several addresses on the namespace's `lo` stand for machines and send
 * Talos records made from this machine's own `dmesg -J`, over real TCP.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { SqliteState } from "../src/state/sqlite.ts";
import { LogStore } from "../src/logs/store.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";
import { dmesgRecords, expectedLine, jsonLines, type TalosRecord, talosTime } from "./support/talos_records.ts";
import { concatBytes } from "../src/bytes.ts";

const PYTHON = "/usr/bin/python3";

const ignore = skipUnless(
  "kernel-log receiver over real TCP",
  [isRoot(), "root (network namespaces)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("dmesg"), "dmesg (apt-get install util-linux)"],
  [Deno.statSync(PYTHON).isFile, "python3 (apt-get install python3)"],
);

const SERVER = "fd00:1::1";
const MACHINE_A = { address: "fd00:1::a", serverUuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f" };
const MACHINE_B = { address: "fd00:1::b", serverUuid: "5b6c4d1e-0000-4000-8000-00000000000b" };
const MACHINE_C = { address: "fd00:1::c", serverUuid: "5b6c4d1e-0000-4000-8000-00000000000c" };
const UNKNOWN = "fd00:1::dead";

const IDENTITIES = {
  [MACHINE_A.address]: {
    serverUuid: MACHINE_A.serverUuid,
    namespace: "default",
    cluster: "prod",
    metalMachine: "prod-cp-x7k2p",
    machine: "prod-cp-1",
  },
  [MACHINE_B.address]: { serverUuid: MACHINE_B.serverUuid, namespace: "lab", cluster: "lab" },
  [MACHINE_C.address]: { serverUuid: MACHINE_C.serverUuid },
};

type Rec = TalosRecord;

/** The same records as a Talos sender whose boot-time estimate is `shiftMs` off (a restarted sender). */
function resent(records: Rec[], shiftMs: number): Rec[] {
  return records.map((record) => ({
    ...record,
    "talos-time": talosTime(Date.parse(record["talos-time"] as string) + shiftMs, (record.clock as number) % 1000),
  }));
}

const encoder = new TextEncoder();
const jsonBytes = (records: Rec[]) => encoder.encode(jsonLines(records));

const concat = (...parts: Uint8Array[]) => concatBytes(parts);

/**
 * A Python TCP client bound to `source`: sends a file in chunks, half-closes, reports how the server ended.
 * A refused source's connection is closed by the server at once, and the reset that follows can land at any point:
 * during a send, after the last one (then `shutdown` finds no connection left: ENOTCONN), or while waiting.
 * In every case the reason is left for `recv` to report, which tells a reset from a close.
 */
const CLIENT = `
import errno, socket, sys, time
source, server, port, path, chunk = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], int(sys.argv[5])
data = open(path, "rb").read()
s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.bind((source, 0))
s.connect((server, port))
started = time.monotonic()
try:
    for i in range(0, len(data), chunk):
        s.sendall(data[i:i + chunk])
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError as error:
        if error.errno != errno.ENOTCONN:
            raise
    s.settimeout(20)
    ended = "closed" if s.recv(1) == b"" else "data"
except (ConnectionResetError, BrokenPipeError):
    ended = "reset"
print(ended, round(time.monotonic() - started, 3))
`;

/** The receiver, store and stdout writer, as serve wires them, in a process of its own. */
const HARNESS = `
import { LogPipeline } from ${JSON.stringify(new URL("../src/logs/pipeline.ts", import.meta.url).href)};
import { SqliteState } from ${JSON.stringify(new URL("../src/state/sqlite.ts", import.meta.url).href)};
import { setupLogging } from ${JSON.stringify(new URL("../src/log.ts", import.meta.url).href)};
setupLogging("debug", true);
const env = (name) => Deno.env.get(name);
const identities = JSON.parse(env("IDENTITIES"));
const state = SqliteState.open(env("STATE_DIR"), "create");
const stop = new Promise((resolve) => Deno.addSignalListener("SIGTERM", resolve));
const logs = await LogPipeline.start({
  hostname: env("LISTEN"), port: 4001, identify: (address) => identities[address], db: state.db,
});
Deno.writeTextFileSync(env("READY"), "ready");
await stop;
await logs.close();
Deno.writeTextFileSync(env("COUNTERS"), JSON.stringify(logs.counters));
state.close();
`;

class Harness {
  readonly dir = Deno.makeTempDirSync();
  readonly stateDir: string;
  readonly #child: Deno.ChildProcess;
  readonly #output: Promise<Deno.CommandOutput>;

  /** Starts the receiver in `ns` on `listen`, with a new state unless `stateDir` is given. */
  constructor(readonly ns: NetNs, listen: string, stateDir?: string) {
    this.stateDir = stateDir ?? join(this.dir, "state");
    this.#child = new Deno.Command("ip", {
      args: ns.wrap(Deno.execPath(), ["eval", "--quiet", HARNESS]),
      env: {
        IDENTITIES: JSON.stringify(IDENTITIES),
        STATE_DIR: this.stateDir,
        LISTEN: listen,
        READY: join(this.dir, "ready"),
        COUNTERS: join(this.dir, "counters"),
      },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    this.#output = this.#child.output();
  }

  async ready(timeoutMs = 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        Deno.statSync(join(this.dir, "ready"));
        return;
      } catch { /* not yet */ }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    this.#child.kill("SIGKILL");
    const { stderr } = await this.#output;
    throw new Error(`the receiver did not start: ${new TextDecoder().decode(stderr)}`);
  }

  /** Sends `data` from `source` in `chunk`-byte writes; returns how the connection ended and after how long. */
  async send(source: string, data: Uint8Array, chunk = 65536): Promise<[string, number]> {
    const path = join(this.dir, `data-${crypto.randomUUID()}`);
    Deno.writeFileSync(path, data);
    const output = await this.ns.exec(PYTHON, ["-c", CLIENT, source, SERVER, "4001", path, String(chunk)]);
    const [ended, seconds] = output.trim().split(" ");
    return [ended, Number(seconds)];
  }

  /** Stops the receiver (SIGTERM) and returns its stdout lines, counters and diagnostics. */
  async stop(): Promise<{ lines: string[]; counters: Rec; stderr: string }> {
    this.#child.kill("SIGTERM");
    const { code, stdout, stderr } = await this.#output;
    const diagnostics = new TextDecoder().decode(stderr);
    assert.equal(code, 0, diagnostics);
    const text = new TextDecoder().decode(stdout);
    assert.ok(text === "" || text.endsWith("\n"));
    return {
      lines: text === "" ? [] : text.slice(0, -1).split("\n"),
      counters: JSON.parse(Deno.readTextFileSync(join(this.dir, "counters"))),
      stderr: diagnostics,
    };
  }
}

async function namespaceWith(...addresses: string[]): Promise<NetNs> {
  const ns = await NetNs.create("logs");
  for (const address of addresses) await ns.exec("ip", ["-6", "addr", "add", `${address}/128`, "dev", "lo", "nodad"]);
  return ns;
}

Deno.test({
  name: "machines send dmesg records concurrently: annotated lines, de-duplication, bad lines, a 100 KiB line",
  ignore,
  fn: async () => {
    await using ns = await namespaceWith(SERVER, MACHINE_A.address, MACHINE_B.address, MACHINE_C.address, UNKNOWN);
    const harness = new Harness(ns, SERVER);
    await harness.ready();

    const bootA = Date.UTC(2026, 2, 2, 8, 0, 0);
    const ring = await dmesgRecords(bootA);
    assert.ok(ring.length > 10, "dmesg gave records");
    const n = ring.length;
    const last = ring[n - 1];
    const record = (seq: number, msg: string): Rec => ({
      ...last,
      seq,
      clock: (last.clock as number) + seq,
      msg,
      "talos-time": talosTime(
        bootA + Math.floor(((last.clock as number) + seq) / 1000),
        ((last.clock as number) + seq) % 1000,
      ),
    });
    const big = record(n, `${"x".repeat(100 * 1024)}\n`);
    const after = record(n + 1, "after the long line\n");
    const firstSend = concat(
      jsonBytes(ring.slice(0, 5)),
      encoder.encode("this is not json\n[1,2,3]\n"),
      new Uint8Array([0xff, 0xfe, 0x7b, 0x0a]),
      jsonBytes(ring.slice(5)),
      jsonBytes([big, after]),
    );
    // The sender restarts: the whole ring again (its boot estimate is 0.8 s off), then new records.
    const more = [record(n + 2, "new after the restart\n"), record(n + 3, "and one more\n")];
    const secondSend = jsonBytes(resent([...ring, big, after, ...more], 800));
    // Machine B: the same dmesg (another machine), written 7 bytes at a time, one record with invalid UTF-8.
    const ringB = await dmesgRecords(Date.UTC(2026, 2, 2, 8, 5, 0));
    const invalid = concat(
      encoder.encode(`{"clock":1,"facility":"kern","msg":"bad `),
      new Uint8Array([0xff, 0xc3]),
      encoder.encode(
        `byte\\n","priority":"info","seq":${ringB.length},"talos-level":"info","talos-time":"2026-03-02T08:05:00.000001Z"}\n`,
      ),
    );
    // Machine C reboots: seq starts again at 0 in a boot that started later.
    const bootsC = [
      ...(await dmesgRecords(Date.UTC(2026, 2, 2, 7, 0, 0))).slice(0, 10),
      ...(await dmesgRecords(Date.UTC(2026, 2, 2, 9, 0, 0))).slice(0, 10),
    ];

    const [a, b, c, unknown] = await Promise.all([
      (async () => [
        await harness.send(MACHINE_A.address, firstSend),
        await harness.send(MACHINE_A.address, secondSend),
      ])(),
      harness.send(MACHINE_B.address, concat(jsonBytes(ringB), invalid), 7),
      harness.send(MACHINE_C.address, jsonBytes(bootsC), 1000),
      harness.send(UNKNOWN, jsonBytes(ring)),
    ]);
    assert.deepEqual([a[0][0], a[1][0], b[0], c[0]], ["closed", "closed", "closed", "closed"]);
    assert.ok(["closed", "reset"].includes(unknown[0]), unknown[0]);
    assert.ok(unknown[1] < 2, `the unknown source was closed after ${unknown[1]} s`);

    const { lines, counters, stderr } = await harness.stop();
    assert.match(stderr, /refused kernel-log connection from \W*fd00:1::dead/);
    const byMachine = (uuid: string) => lines.filter((line) => JSON.parse(line).server_uuid === uuid);

    // A: every record once, in order, exactly the documented line; the long one truncated but kept.
    const linesA = byMachine(MACHINE_A.serverUuid);
    const expectedA = [...ring, after, ...resent(more, 800)].map((r) => expectedLine(r, IDENTITIES[MACHINE_A.address]));
    const truncated = linesA.splice(n, 1)[0];
    assert.deepEqual(linesA, expectedA);
    const cut = JSON.parse(truncated);
    assert.equal(cut.seq, n);
    assert.equal(cut.truncated, true);
    assert.equal(cut.machine, "prod-cp-1");
    assert.equal(cut["talos-time"], big["talos-time"]);
    assert.match(cut.msg, /^x{16000,16384}$/);

    // B: all records, one with U+FFFD where the bytes were invalid.
    const linesB = byMachine(MACHINE_B.serverUuid);
    assert.deepEqual(linesB.slice(0, -1), ringB.map((r) => expectedLine(r, IDENTITIES[MACHINE_B.address])));
    assert.equal(JSON.parse(linesB.at(-1)!).msg, "bad \uFFFD\uFFFDbyte\n");

    // C: both boots, nothing taken for a duplicate.
    assert.deepEqual(
      byMachine(MACHINE_C.serverUuid),
      bootsC.map((r) => expectedLine(r, IDENTITIES[MACHINE_C.address])),
    );
    assert.equal(lines.length, linesA.length + 1 + linesB.length + bootsC.length);

    assert.deepEqual(counters.receiver, {
      accepted: lines.length,
      duplicates: n + 2,
      malformed: 3,
      truncated: 2,
      refused: 1,
      connections: 4,
      open: 0,
      sinkErrors: 0,
      rateLimited: 0,
      bytes: firstSend.length + secondSend.length + jsonBytes(ringB).length + invalid.length +
        jsonBytes(bootsC).length,
    });
    assert.deepEqual(counters.stdout, { written: lines.length, dropped: 0 });

    // The history holds the same lines, per machine, with boots told apart.
    using state = SqliteState.open(harness.stateDir, "read");
    const store = new LogStore(state.db);
    const stored = (uuid: string) => store.query({ uuids: [uuid] }).map((row) => row.line);
    assert.deepEqual(stored(MACHINE_A.serverUuid), byMachine(MACHINE_A.serverUuid));
    assert.deepEqual(stored(MACHINE_B.serverUuid), linesB);
    assert.deepEqual(stored(MACHINE_C.serverUuid), byMachine(MACHINE_C.serverUuid));
    const bootKeys = new Set(store.query({ uuids: [MACHINE_C.serverUuid] }).map((row) => row.boot));
    assert.equal(bootKeys.size, 2);
    assert.deepEqual(
      store.query({ uuids: [MACHINE_A.serverUuid], level: "error" }).map((row) => row.line),
      linesA.filter((line) => JSON.parse(line)["talos-level"] === "error"),
    );
    store.close();
  },
});

Deno.test({
  name: "binding waits for the tunnel address to appear, and a restarted receiver still drops replayed records",
  ignore,
  fn: async () => {
    await using ns = await namespaceWith(MACHINE_A.address);
    const harness = new Harness(ns, SERVER);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await ns.exec("ip", ["-6", "addr", "add", `${SERVER}/128`, "dev", "lo", "nodad"]);
    await harness.ready();
    const ring = await dmesgRecords(Date.UTC(2026, 2, 2, 8, 0, 0));
    await harness.send(MACHINE_A.address, jsonBytes(ring.slice(0, 20)));
    const first = await harness.stop();
    assert.equal(first.lines.length, 20);
    assert.match(first.stderr, /waiting for .*fd00:1::1.* to become available/);

    // serve restarts on the same state; the machine's sender replays its ring with more records.
    const again = new Harness(ns, SERVER, harness.stateDir);
    await again.ready();
    await again.send(MACHINE_A.address, jsonBytes(resent(ring.slice(0, 25), 600)));
    const second = await again.stop();
    assert.deepEqual(second.lines.map((line) => JSON.parse(line).seq), [20, 21, 22, 23, 24]);
    assert.equal((second.counters.receiver as Rec).duplicates, 20);
  },
});

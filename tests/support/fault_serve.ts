/**
 * A real `serve` to attack, for the fault tests (`tests/faults/`): serve runs in a test namespace with the
 * userspace backend and `--log-level trace`; machines provision through the real API (Python grpcio) and get their
 * SideroLink address on the namespace's `lo`, so that raw senders can connect from it (`hostile_peer.py`). The
 * harness also reads the state database independently of the product's code (plain SQL), checks that serve is
 * alive and answering, and scans every captured output for the server's private key and the join token.
 *
 * @module
 */

import { ok } from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../../src/keys.ts";
import { type CliResult, runCli } from "./cli.ts";
import { NetNs, run } from "./netns.ts";
import { isRoot, onPath, skipUnless } from "./requirements.ts";
import { ServeProcess } from "./serve_process.ts";

/** The Python with grpcio that plays the machines. */
export const PYTHON = "/usr/bin/python3";

/** The hostile machine (see its usage text). */
export const HOSTILE_PEER = new URL("./hostile_peer.py", import.meta.url).pathname;

/** The address serve's API listens on inside the namespace. */
const API_HOST = "fd5e:6::1";

/** The `ignore` flag for a fault test: root, wireguard-go, wg, ip and Python grpcio are needed. */
export function faultTestIgnore(name: string): boolean {
  return skipUnless(
    name,
    [isRoot(), "root (network namespaces, TUN devices)"],
    [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
    [onPath("wg"), "wg (apt-get install wireguard-tools)"],
    [onPath("ip"), "ip (apt-get install iproute2)"],
    [hasGrpcio(), "python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools)"],
  );
}

function hasGrpcio(): boolean {
  try {
    return new Deno.Command(PYTHON, { args: ["-c", "import grpc, grpc_tools.protoc"], stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

/** A provisioned machine whose address is on the namespace's `lo`. */
export interface Machine {
  uuid: string;
  address: string;
  publicKey: string;
}

/** A stored machine record, read with plain SQL. */
export interface StoredMachine {
  uuid: string;
  address: string;
  public_key: string | null;
}

/** Options of {@link FaultServe.start}. */
export interface FaultServeOptions {
  /** Extra serve flags. */
  args?: string[];
  /** Environment for serve (e.g. glibc's malloc checks). */
  env?: Record<string, string>;
  /** Use this state folder (the caller prepares it) instead of one in the work folder. */
  stateDir?: string;
}

/** A serve under attack, with its namespace and work folder; disposing it removes everything. */
export class FaultServe implements AsyncDisposable {
  readonly ns: NetNs;
  readonly work: string;
  readonly stateDir: string;
  readonly socket: string;
  readonly iface: string;
  /** `[addr]:port` of the Provision API. */
  readonly api = `[${API_HOST}]:8081`;
  serve!: ServeProcess;
  /** The server's tunnel address (log port 4001, event port 4002). */
  server = "";
  /** Output captured from every helper and CLI run, scanned for secrets with serve's own. */
  readonly captured: string[] = [];
  readonly #args: string[];
  readonly #env: Record<string, string> | undefined;
  #files = 0;

  private constructor(ns: NetNs, work: string, options: FaultServeOptions) {
    this.ns = ns;
    this.work = work;
    this.stateDir = options.stateDir ?? join(work, "state");
    this.socket = join(work, "ctl", "control.sock");
    // Unique across the test workers of one process (`deno test --parallel`): wireguard-go's UAPI socket is global.
    this.iface = `slf${crypto.getRandomValues(new Uint8Array(4)).toHex()}`;
    this.#env = options.env;
    this.#args = [
      "--state-dir",
      this.stateDir,
      "--wireguard-endpoint",
      `[${API_HOST}]:51821`,
      "--wireguard-backend",
      "userspace",
      "--interface",
      this.iface,
      "--api-listen",
      this.api,
      "--control-socket",
      this.socket,
      "--log-level",
      "trace",
      ...(options.args ?? []),
    ];
  }

  /** Creates the namespace and work folder; serve itself starts with {@link FaultServe.restart}. */
  static async create(label: string, options: FaultServeOptions = {}): Promise<FaultServe> {
    const work = await Deno.makeTempDir({ prefix: `siderolink-fault-${label}-` });
    // Reachable for other users, so that the control socket's own mode is what keeps them out.
    await Deno.chmod(work, 0o755);
    await Deno.mkdir(join(work, "ctl"), { mode: 0o755 });
    await Deno.chmod(join(work, "ctl"), 0o755);
    const ns = await NetNs.create(label);
    await ns.exec("ip", ["-6", "addr", "add", `${API_HOST}/64`, "dev", "lo", "nodad"]);
    return new FaultServe(ns, work, options);
  }

  /** Creates everything and starts serve. */
  static async start(label: string, options: FaultServeOptions = {}): Promise<FaultServe> {
    const fault = await FaultServe.create(label, options);
    try {
      await fault.restart();
    } catch (error) {
      await fault[Symbol.asyncDispose]();
      throw error;
    }
    return fault;
  }

  /** The serve command line (without the program), for tests that start it differently. */
  get args(): string[] {
    return [...this.#args];
  }

  /** Starts serve (again, after a stop), and remembers its outputs for the secrets scan. */
  async restart(): Promise<void> {
    this.serve = await ServeProcess.start(this.#args, { ns: this.ns, env: this.#env });
    const startup = JSON.parse(this.serve.stderr.find((line) => line.includes('"serving'))!);
    this.server = startup.properties.settings.serverAddress;
    this.#outputs.push(this.serve);
  }

  readonly #outputs: ServeProcess[] = [];

  /** serve's process id (the deno process in the namespace). */
  async pid(): Promise<number> {
    const pids = (await run("ip", ["netns", "pids", this.ns.name])).trim().split("\n").map(Number);
    const serve = pids.filter((pid) => {
      try {
        return Deno.readTextFileSync(`/proc/${pid}/cmdline`).includes("\0serve\0");
      } catch {
        return false;
      }
    });
    ok(serve.length === 1, `one serve in the namespace, found ${serve.length}`);
    return serve[0];
  }

  /** serve's resident memory (KiB). */
  async rssKiB(): Promise<number> {
    const status = await Deno.readTextFile(`/proc/${await this.pid()}/status`);
    return Number(/VmRSS:\s+(\d+)/.exec(status)![1]);
  }

  /** The join token and private key as the state database holds them (read-only, plain SQL). */
  secrets(): { token: string | undefined; privateKey: Uint8Array } {
    const row = this.#query<{ join_token: string | null; private_key: string }>(
      "SELECT join_token, private_key FROM installation",
    )[0];
    return { token: row.join_token ?? undefined, privateKey: Uint8Array.fromBase64(row.private_key) };
  }

  /** Runs a read-only query on the state database. */
  #query<T>(sql: string, ...params: (string | number)[]): T[] {
    const db = new DatabaseSync(join(this.stateDir, "state.db"), { readOnly: true, timeout: 10_000 });
    try {
      return db.prepare(sql).all(...params) as T[];
    } finally {
      db.close();
    }
  }

  /** The stored kernel-log lines of a machine, oldest first. */
  storedLines(uuid: string): string[] {
    return this.#query<{ line: string }>("SELECT line FROM log_lines WHERE uuid = ? ORDER BY id", uuid)
      .flatMap((row) => row.line.split("\n"));
  }

  /** The stored event ids of a machine. */
  storedEventIds(uuid: string): string[] {
    return this.#query<{ id: string }>("SELECT id FROM events WHERE uuid = ?", uuid).map((row) => row.id);
  }

  /** The stored machine records. */
  storedMachines(): StoredMachine[] {
    return this.#query<StoredMachine>("SELECT uuid, address, public_key FROM machines ORDER BY uuid");
  }

  /** The device's peers as `wg show dump` lists them: public key → allowed IPs. */
  async devicePeers(): Promise<Map<string, string>> {
    const dump = (await this.ns.exec("wg", ["show", this.iface, "dump"])).trim().split("\n").slice(1);
    return new Map(dump.filter(Boolean).map((line) => line.split("\t")).map((cols) => [cols[0], cols[3]]));
  }

  /** Checks that every stored machine with a key has exactly its peer on the device, and nothing else is there. */
  async assertPeersMatchRecords(): Promise<void> {
    const expected = new Map(
      this.storedMachines().filter((m) => m.public_key).map((m) => [m.public_key!, `${m.address}/128`]),
    );
    const actual = await this.devicePeers();
    ok(actual.size === expected.size, `device has ${actual.size} peers, records ${expected.size}`);
    for (const [key, allowed] of expected) ok(actual.get(key) === allowed, `peer ${key}: ${actual.get(key)}`);
  }

  /** Runs `hostile_peer.py` in serve's namespace (or `ns`) and parses its JSON line. */
  async peer<T = Record<string, unknown>>(args: string[], ns: NetNs = this.ns): Promise<T> {
    const out = await ns.exec(PYTHON, [HOSTILE_PEER, ...args]);
    this.captured.push(out);
    return JSON.parse(out.trim().split("\n").at(-1)!);
  }

  /** Starts `hostile_peer.py` in the namespace without waiting (for stdin-driven and background senders). */
  spawnPeer(args: string[]): Deno.ChildProcess {
    return new Deno.Command("ip", {
      args: this.ns.wrap(PYTHON, [HOSTILE_PEER, ...args]),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  }

  /** Writes a file in the work folder and returns its path. */
  async file(data: string | Uint8Array): Promise<string> {
    const path = join(this.work, `input-${this.#files++}`);
    if (typeof data === "string") await Deno.writeTextFile(path, data);
    else await Deno.writeFile(path, data);
    return path;
  }

  /** Provision calls (`fields` as ProvisionRequest fields), `threads` at a time; the results in order. */
  async provision(requests: Record<string, unknown>[], threads = 1): Promise<Record<string, string>[]> {
    const file = await this.file(JSON.stringify(requests));
    return (await this.peer<{ results: Record<string, string>[] }>(["provision", this.api, file, String(threads)]))
      .results;
  }

  /** A Provision request for `uuid` with a fresh key and the right token (when one is set). */
  async request(uuid: string, publicKey?: string): Promise<Record<string, unknown>> {
    const fields: Record<string, unknown> = {
      node_uuid: uuid,
      node_public_key: publicKey ?? formatKey(await publicKeyOf(generatePrivateKey())),
      talos_version: "v1.9.5",
    };
    const token = this.secrets().token;
    if (token) fields.join_token = token;
    return fields;
  }

  /** Provisions `count` new machines in one run and puts their addresses on the namespace's `lo`. */
  async addMachines(count: number): Promise<Machine[]> {
    const requests = await Promise.all(Array.from({ length: count }, () => this.request(crypto.randomUUID())));
    const replies = await this.provision(requests, 4);
    const machines: Machine[] = [];
    for (const [index, reply] of replies.entries()) {
      const uuid = requests[index].node_uuid as string;
      ok(reply.code === "OK", `provision ${uuid}: ${JSON.stringify(reply)}`);
      const address = reply.node_address_prefix.replace("/64", "");
      await this.ns.exec("ip", ["-6", "addr", "add", `${address}/128`, "dev", "lo", "nodad"]);
      machines.push({ uuid, address, publicKey: requests[index].node_public_key as string });
    }
    return machines;
  }

  /** Runs the CLI (e.g. `peers --json`) against this serve's control socket. */
  async cli(args: string[]): Promise<CliResult> {
    const result = await runCli([...args, "--control-socket", this.socket]);
    this.captured.push(result.stdout, result.stderr);
    return result;
  }

  /** GETs a control API path (in this process, over the unix socket) and returns status and body. */
  async control(path: string, init: RequestInit = {}): Promise<{ status: number; body: string }> {
    using client = Deno.createHttpClient({ proxy: { transport: "unix", path: this.socket } });
    const response = await fetch(`http://siderolink${path}`, { ...init, client });
    const body = await response.text();
    this.captured.push(body);
    return { status: response.status, body };
  }

  /** The kernel-log counters serve exposes on the control API. */
  async counters(): Promise<Record<string, Record<string, number>>> {
    const { status, body } = await this.control("/v1/counters");
    ok(status === 200, `counters: ${status} ${body}`);
    return JSON.parse(body).logs;
  }

  /**
   * Asserts that serve is alive and answering: the process runs, a new machine provisions, and `peers --json`
   * over the control socket lists it.
   */
  async assertAlive(): Promise<void> {
    await this.pid();
    const uuid = crypto.randomUUID();
    const [reply] = await this.provision([await this.request(uuid)]);
    ok(reply.code === "OK", `a provision after the attack: ${JSON.stringify(reply)}`);
    const peers = await this.cli(["peers", "--json"]);
    ok(peers.code === 0, `peers --json: ${peers.stderr}`);
    ok(
      JSON.parse(peers.stdout).some((peer: { serverUuid: string }) => peer.serverUuid === uuid),
      "peers lists the new machine",
    );
  }

  /** Every output line of serve (all runs) and of the helpers, for scans. */
  allOutput(): string {
    return [...this.#outputs.flatMap((serve) => [...serve.stdout, ...serve.stderr]), ...this.captured].join("\n");
  }

  /** Asserts that neither the private key (base64, base64url, hex) nor the join token appears in any output. */
  assertNoSecrets(): void {
    const { token, privateKey } = this.secrets();
    const forms = [
      privateKey.toBase64(),
      privateKey.toBase64({ alphabet: "base64url", omitPadding: true }),
      privateKey.toHex(),
      ...(token ? [token] : []),
    ];
    const text = this.allOutput();
    ok(text.length > 0);
    for (const form of forms) ok(!text.includes(form), "a secret appears in the output");
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.serve?.stop("SIGKILL");
    // serve's wireguard-go and any helper still running live in the namespace: end them by id.
    const pids = (await run("ip", ["netns", "pids", this.ns.name]).catch(() => "")).trim().split("\n");
    for (const pid of pids.filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch { /* already gone */ }
    }
    await this.ns[Symbol.asyncDispose]();
    await Deno.remove(this.work, { recursive: true }).catch(() => {});
  }
}

/**
 * The userspace WireGuard backend: wireguard-go holds the TUN interface and is driven over the cross-platform
 * UAPI socket `/var/run/wireguard/<iface>.sock`; the link's MTU, state and address go through rtnetlink.
 *
 * wireguard-go is started in its own daemon mode (`wireguard-go <iface>`), not with `-f`: the launcher creates
 * the TUN device and the listening UAPI socket, prints any failure and exits 1, or hands both to a detached copy
 * whose output goes to /dev/null and exits 0. So a failure comes back with wireguard-go's own words, and the
 * running daemon holds no pipe to this process: it survives a restart of siderolink (a `-f` child writing to our
 * pipes would die of SIGPIPE at its first log line after we exit). Being detached, it is stopped the way its
 * README says: deleting the link, which it watches.
 *
 * The socket folder is shared by every network namespace on the host: a live socket whose link is not in this
 * namespace belongs to someone else and is refused, never reused.
 *
 * @module
 */

import { UserError } from "../errors.ts";
import { publicKeyOf } from "../keys.ts";
import { logger } from "../log.ts";
import { type BackendName, type Device, type DeviceConfig, type DeviceInfo, SIDEROLINK_MTU } from "./device.ts";
import { checkLinkName, RtNetlink } from "./netlink/rtnetlink.ts";
import { checkReply, encodeSetRequest, GET_REQUEST, parseGetReply } from "./uapi.ts";
import { concatBytes } from "../bytes.ts";

/** The folder where wireguard-go (and boringtun) put their UAPI sockets, `<iface>.sock`. */
export const UAPI_SOCKET_DIR = "/var/run/wireguard";

const PROGRAM = "wireguard-go";
const EMPTY_SET_REQUEST = encodeSetRequest({});
// How long a UAPI exchange, wireguard-go's start-up and its exit after the link is deleted may take.
const REPLY_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 10_000;
const STOP_TIMEOUT_MS = 5_000;
// Variables that would change how the launcher runs: LOG_LEVEL hands our pipes to the daemon (then the launch
// never seems to end and the daemon dies with us); the WG_* ones make it adopt descriptors it was not given.
const STRIPPED_ENV = ["LOG_LEVEL", "WG_TUN_FD", "WG_UAPI_FD", "WG_PROCESS_FOREGROUND"];

const log = logger(["wireguard", "userspace"]);

/** Whether `wireguard-go` is an executable on PATH. */
export function userspaceWireGuardAvailable(): boolean {
  return (Deno.env.get("PATH") ?? "").split(":").some((dir) => {
    try {
      const info = Deno.statSync(`${dir || "."}/${PROGRAM}`);
      return info.isFile && ((info.mode ?? 0) & 0o111) !== 0;
    } catch {
      return false;
    }
  });
}

/**
 * A wireguard-go interface driven over its UAPI socket.
 *
 * @example
 * ```ts
 * const device = UserspaceDevice.open("siderolink");
 * await device.ensureLink(); // starts wireguard-go, or reuses the one already running
 * await device.ensureAddress("fdae:41e4:649b:9303::1/64");
 * await device.configure({ privateKey, listenPort: 51821, peers: [{ publicKey, allowedIPs: ["fdae:…/128"] }] });
 * const info = await device.read();
 * await device.close(); // wireguard-go and the interface keep running
 * ```
 */
export class UserspaceDevice implements Device {
  /** Always `userspace`. */
  readonly backend: BackendName = "userspace";
  /** The interface name. */
  readonly name: string;
  /** The UAPI socket of this interface. */
  readonly socketPath: string;
  readonly #rtnetlink: RtNetlink;

  private constructor(name: string, rtnetlink: RtNetlink) {
    this.name = name;
    this.socketPath = `${UAPI_SOCKET_DIR}/${name}.sock`;
    this.#rtnetlink = rtnetlink;
  }

  /** Opens the rtnetlink socket for interface `name`; touches nothing yet. */
  static open(name: string): UserspaceDevice {
    checkLinkName(name);
    return new UserspaceDevice(name, RtNetlink.open());
  }

  /**
   * Starts wireguard-go for the interface unless one already answers on its socket with the link in this
   * namespace (so peers survive a restart of siderolink), then sets the MTU to 1280 and the link up.
   */
  async ensureLink(): Promise<void> {
    if (await this.#answers()) {
      if (this.#rtnetlink.linkIndex(this.name) === undefined) {
        throw new UserError(
          `a WireGuard daemon answers on ${this.socketPath} but this network namespace has no link ${this.name}: ` +
            `another namespace uses that name (the socket folder is shared by all of them); choose another name`,
        );
      }
      log.debug("reusing the running wireguard-go of {name}", { name: this.name });
    } else {
      await this.#start();
    }
    this.#rtnetlink.setLink(this.name, { up: true, mtu: SIDEROLINK_MTU });
  }

  /** Adds `cidr` (IPv6, e.g. `fd…::1/64`) without duplicate address detection unless it is already there. */
  ensureAddress(cidr: string): Promise<void> {
    try {
      this.#rtnetlink.addAddress(this.name, cidr);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** Applies `config` in one `set` transaction, however many peers it holds. */
  async configure(config: DeviceConfig): Promise<void> {
    checkReply(await this.#exchange(encodeSetRequest(config)), this.name);
  }

  /** Reads the device and all its peers with one `get`. */
  async read(): Promise<DeviceInfo> {
    const { privateKey, listenPort, peers } = parseGetReply(await this.#exchange(GET_REQUEST), this.name);
    const publicKey = privateKey && await publicKeyOf(privateKey);
    privateKey?.fill(0);
    return { name: this.name, publicKey, listenPort, peers };
  }

  /**
   * Deletes the link, which makes its wireguard-go exit and remove its socket, and waits for that. An absent
   * link is not an error.
   */
  async deleteLink(): Promise<void> {
    if (this.#rtnetlink.linkIndex(this.name) === undefined) return;
    this.#rtnetlink.deleteLink(this.name);
    const deadline = Date.now() + STOP_TIMEOUT_MS;
    while (await this.#answers()) {
      if (Date.now() > deadline) {
        throw new UserError(
          `wireguard-go of ${this.name} still answers on ${this.socketPath} after its link was deleted`,
        );
      }
      await delay(50);
    }
  }

  /** Closes the rtnetlink socket; wireguard-go, the link and its peers stay. */
  close(): Promise<void> {
    this.#rtnetlink.close();
    return Promise.resolve();
  }

  // Runs the wireguard-go launcher, which returns once the TUN device and the UAPI socket exist (or failed).
  async #start(): Promise<void> {
    const env = Deno.env.toObject();
    for (const name of STRIPPED_ENV) delete env[name];
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(PROGRAM, {
        args: [this.name],
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      })
        .spawn();
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UserError(
          `cannot start ${PROGRAM} for ${this.name}: it is not on PATH (apt-get install wireguard-go)`,
        );
      }
      throw error;
    }
    const timer = setTimeout(() => child.kill("SIGKILL"), START_TIMEOUT_MS);
    const { code, signal, stdout, stderr } = await child.output().finally(() => clearTimeout(timer));
    if (code !== 0) {
      const how = signal
        ? `was killed by ${signal}${signal === "SIGKILL" ? ` after ${START_TIMEOUT_MS / 1000} s` : ""}`
        : `exited ${code}`;
      throw new UserError(`${PROGRAM} could not start ${this.name}: it ${how}: ${outputText(stdout, stderr)}`);
    }
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!await this.#answers()) {
      if (Date.now() > deadline) {
        throw new UserError(`${PROGRAM} started ${this.name} but does not answer on ${this.socketPath}`);
      }
      await delay(20);
    }
    log.info("started wireguard-go for {name}", { name: this.name });
  }

  // Whether a daemon answers on the socket (false when there is no socket or nobody listens on it). The probe is
  // an empty `set`: it carries no secret, and its answer means the daemon runs, not just that the launcher bound
  // the socket (a freshly started daemon still resets the MTU to its default before it answers).
  async #answers(): Promise<boolean> {
    try {
      checkReply(await this.#exchange(EMPTY_SET_REQUEST), this.name);
      return true;
    } catch (error) {
      if (error instanceof NoDaemon) return false;
      throw error;
    }
  }

  async #connect(): Promise<Deno.UnixConn> {
    try {
      return await Deno.connect({ transport: "unix", path: this.socketPath });
    } catch (error) {
      if (error instanceof Deno.errors.NotFound || error instanceof Deno.errors.ConnectionRefused) {
        throw new NoDaemon(
          `WireGuard device ${this.name} has no running daemon on ${this.socketPath} (ensureLink starts wireguard-go)`,
        );
      }
      throw error;
    }
  }

  // Sends one request on a fresh connection and returns the whole reply (up to its empty last line).
  async #exchange(request: string): Promise<string> {
    const connection = await this.#connect();
    const bytes = new TextEncoder().encode(request);
    const chunks: Uint8Array[] = [];
    const buffer = new Uint8Array(64 * 1024);
    const timer = setTimeout(() => connection.close(), REPLY_TIMEOUT_MS);
    try {
      for (let offset = 0; offset < bytes.length;) offset += await connection.write(bytes.subarray(offset));
      while (!endsWithEmptyLine(chunks)) {
        const count = await connection.read(buffer);
        if (count === null) throw new UserError(`WireGuard device ${this.name} closed its UAPI socket mid-reply`);
        chunks.push(buffer.slice(0, count));
      }
    } catch (error) {
      if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
        throw new UserError(
          `WireGuard device ${this.name} did not answer on ${this.socketPath} within ${REPLY_TIMEOUT_MS / 1000} s`,
        );
      }
      throw error;
    } finally {
      clearTimeout(timer);
      // A request may hold the private key and a reply does: leave no copy in these buffers.
      bytes.fill(0);
      buffer.fill(0);
      try {
        connection.close();
      } catch {
        // Already closed by the timeout.
      }
    }
    const reply = new TextDecoder().decode(concatBytes(chunks));
    for (const chunk of chunks) chunk.fill(0);
    return reply;
  }
}

// No daemon listens on the socket: the one case `#answers` turns into `false`.
class NoDaemon extends UserError {}

// Whether the bytes received so far end with "\n\n", the end of every UAPI reply.
function endsWithEmptyLine(chunks: Uint8Array[]): boolean {
  const tail: number[] = [];
  for (let i = chunks.length - 1; i >= 0 && tail.length < 2; i--) {
    for (let j = chunks[i].length - 1; j >= 0 && tail.length < 2; j--) tail.push(chunks[i][j]);
  }
  return tail.length === 2 && tail[0] === 0x0a && tail[1] === 0x0a;
}

// wireguard-go's own words: its log lines (stdout) and messages (stderr), without the boxed banner saying that
// the kernel module would be better, which it prints on every start.
function outputText(stdout: Uint8Array, stderr: Uint8Array): string {
  const decoder = new TextDecoder();
  const lines = `${decoder.decode(stdout)}\n${decoder.decode(stderr)}`.split("\n")
    .map((line) => line.trim())
    .filter((line) => line !== "" && !/^[\u2500-\u257f]/.test(line));
  return lines.length ? lines.join("; ") : "it printed nothing";
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

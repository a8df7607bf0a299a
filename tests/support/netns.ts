/**
 * Network namespaces for tests: each test creates its own, with a unique name, and removes it when done,
 * also when the test fails (`await using`). Traffic stays inside namespaces the test made.
 *
 * @module
 */

let counter = 0;

/** Tells this copy of the module from those of other test files in the same process. */
const MODULE_ID = crypto.getRandomValues(new Uint32Array(1))[0].toString(36);

/** Runs a command and returns its stdout; throws with stderr when it fails. */
export async function run(command: string, args: string[], options: { stdin?: string } = {}): Promise<string> {
  const child = new Deno.Command(command, {
    args,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const { success, stdout, stderr, code } = await child.output();
  const text = new TextDecoder().decode(stdout);
  if (!success) {
    throw new Error(`${command} ${args.join(" ")} exited ${code}: ${new TextDecoder().decode(stderr).trim()}`);
  }
  return text;
}

/** A network namespace that deletes itself (and so every link in it) on dispose. */
export class NetNs implements AsyncDisposable {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /**
   * Creates a namespace named `sl-<label>-<pid>-<module>-<n>` with `lo` up. Test files run in parallel share the
   * pid and each has its own copy of this module (and counter), so `<module>` tells the copies apart: two files
   * with the same label (tests/log_receiver_test.ts and the kernel-log fault test) otherwise both made
   * `sl-logs-<pid>-0`, and the second failed with "File exists".
   */
  static async create(label: string): Promise<NetNs> {
    const name = `sl-${label}-${Deno.pid}-${MODULE_ID}-${counter++}`;
    await run("ip", ["netns", "add", name]);
    const ns = new NetNs(name);
    await ns.exec("ip", ["link", "set", "lo", "up"]);
    return ns;
  }

  /** Runs a command inside the namespace and returns its stdout. */
  exec(command: string, args: string[], options: { stdin?: string } = {}): Promise<string> {
    return run("ip", ["netns", "exec", this.name, command, ...args], options);
  }

  /** Arguments that start `command` inside this namespace, for `Deno.Command("ip", …)`. */
  wrap(command: string, args: string[]): string[] {
    return ["netns", "exec", this.name, command, ...args];
  }

  /**
   * Kills every process still in the namespace (a daemon such as wireguard-go holds its TUN device, and so the
   * namespace, alive after `ip netns delete`), then deletes it.
   */
  async [Symbol.asyncDispose](): Promise<void> {
    const pids = await run("ip", ["netns", "pids", this.name]).catch(() => "");
    for (const pid of pids.split("\n").filter(Boolean)) {
      try {
        Deno.kill(Number(pid), "SIGKILL");
      } catch {
        // Already gone.
      }
    }
    await run("ip", ["netns", "delete", this.name]).catch((error) =>
      console.error(`could not remove namespace ${this.name}: ${error.message}`)
    );
  }
}

/**
 * Connects two namespaces with a veth pair carrying the given IPv6 addresses (`/64`, no DAD), and returns
 * the interface names.
 */
export async function linkNamespaces(
  a: NetNs,
  aAddress: string,
  b: NetNs,
  bAddress: string,
): Promise<[string, string]> {
  const id = `${Deno.pid % 10000}${counter++}`;
  const [aIf, bIf] = [`va${id}`, `vb${id}`];
  await run("ip", ["link", "add", aIf, "netns", a.name, "type", "veth", "peer", "name", bIf, "netns", b.name]);
  for (const [ns, ifname, address] of [[a, aIf, aAddress], [b, bIf, bAddress]] as const) {
    await ns.exec("ip", ["-6", "addr", "add", `${address}/64`, "dev", ifname, "nodad"]);
    await ns.exec("ip", ["link", "set", ifname, "up"]);
  }
  return [aIf, bIf];
}

/**
 * Runs one command inside a VM that boots Debian's 6.1 kernel (which has WireGuard, unlike the host's) under QEMU,
 * through `scripts/vm/run.sh`: it builds the initramfs (cached except for the project part), boots, streams the
 * serial console, and returns the guest command's exit code. The guest runs from the project folder at the same
 * path as here, with `deno`, `ip`, `wg`, `ping` and busybox on PATH and DENO_DIR ready, without network.
 *
 * @module
 */

/** The line scripts/vm/init.sh prints on the console when the guest command starts. */
const START_MARKER = "SIDEROLINK-VM-START ";
/** run.sh's lines (on its stderr, which the guest cannot write) when QEMU starts and when the guest reported. */
const BOOTING_LINE = "vm/run: initramfs ready";
const EXITED_LINE = /^vm\/run: guest command exited (\d+);/;

/** The path of the harness script, resolved from this module. */
const RUN_SCRIPT = new URL("../../scripts/vm/run.sh", import.meta.url).pathname;

/** Options of {@linkcode runInVm}. */
export interface VmOptions {
  /** Hard limit for the whole boot, in seconds (default 300): a hung guest is killed and the run fails. */
  timeoutSeconds?: number;
  /** Receives every console and harness line as it arrives (default: printed to stderr with a `vm| ` prefix). */
  onLine?: (line: string) => void;
}

/** What one VM run reported. */
export interface VmRun {
  /** The guest command's exit code. */
  code: number;
  /** The serial console and harness lines, carriage returns removed. */
  output: string[];
  /** Milliseconds spent building the initramfs before QEMU started. */
  buildMs: number;
  /** Milliseconds from QEMU's start until the guest command started (firmware, kernel, init, modules). */
  bootMs: number;
  /** Milliseconds from QEMU's start until it exited. */
  vmMs: number;
}

/**
 * Boots the VM, runs `command` (words without blanks or quotes: they travel on the kernel command line) in the
 * project folder, and returns its exit code with timings. Throws when the guest never reported an exit code (build
 * failure, kernel panic, timeout), with the last console lines.
 *
 * @example
 * ```ts
 * const run = await runInVm(["sh", "tests/vm/smoke.sh"]);
 * assert.equal(run.code, 0);
 * ```
 */
export async function runInVm(command: string[], options: VmOptions = {}): Promise<VmRun> {
  const onLine = options.onLine ?? ((line: string) => console.error(`vm| ${line}`));
  const started = performance.now();
  let booting: number | undefined;
  let commandStarted: number | undefined;
  let code: number | undefined;
  const output: string[] = [];
  const child = new Deno.Command(RUN_SCRIPT, {
    args: command,
    env: { SIDEROLINK_VM_TIMEOUT: String(options.timeoutSeconds ?? 300) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const take = (line: string): void => {
    output.push(line);
    onLine(line);
  };
  const fromConsole = (line: string): void => {
    take(line);
    if (line.includes(START_MARKER)) commandStarted ??= performance.now();
  };
  const fromHarness = (line: string): void => {
    take(line);
    if (line.startsWith(BOOTING_LINE)) booting ??= performance.now();
    const exited = line.match(EXITED_LINE);
    if (exited) code = Number(exited[1]);
  };
  await Promise.all([readLines(child.stdout, fromConsole), readLines(child.stderr, fromHarness)]);
  const status = await child.status;
  const finished = performance.now();
  if (code === undefined || booting === undefined || commandStarted === undefined) {
    throw new Error(
      `the VM reported no exit code (run.sh exited ${status.code}); last lines:\n${output.slice(-30).join("\n")}`,
    );
  }
  return {
    code,
    output,
    buildMs: booting - started,
    bootMs: commandStarted - booting,
    vmMs: finished - booting,
  };
}

/** Calls `take` with each line of `stream`, without line ends or carriage returns. */
async function readLines(stream: ReadableStream<Uint8Array>, take: (line: string) => void): Promise<void> {
  let pending = "";
  for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
    const lines = (pending + chunk).split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) take(line.replaceAll("\r", ""));
  }
  if (pending !== "") take(pending.replaceAll("\r", ""));
}

/**
 * A real `siderolink serve` in a child process (optionally inside a network namespace), with its stdout and
 * stderr collected line by line so tests can wait for and assert exact lines.
 *
 * @module
 */

import type { NetNs } from "./netns.ts";

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** A running serve. */
export class ServeProcess implements AsyncDisposable {
  readonly stdout: string[] = [];
  readonly stderr: string[] = [];
  readonly #child: Deno.ChildProcess;
  readonly #done: Promise<Deno.CommandStatus>;
  readonly #readers: Promise<void>[];
  #waiters: (() => void)[] = [];

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#readers = [this.#collect(child.stdout, this.stdout), this.#collect(child.stderr, this.stderr)];
    this.#done = child.status;
  }

  /**
   * Starts `serve` with `args` (inside `ns` when given) and waits until it announces that it is serving;
   * rejects with its stderr when it exits first. `cli` is the command line that runs the CLI (default: this Deno
   * on the source tree's cli.ts).
   */
  static async start(
    args: string[],
    options: { ns?: NetNs; env?: Record<string, string>; cli?: string[] } = {},
  ): Promise<ServeProcess> {
    const cli = options.cli ?? [Deno.execPath(), "run", "--allow-all", "--frozen", CLI];
    const command = [...cli, "serve", ...args];
    const [program, ...rest] = options.ns ? ["ip", ...options.ns.wrap(command[0], command.slice(1))] : command;
    const child = new Deno.Command(program, {
      args: rest,
      env: { NO_COLOR: "1", ...options.env },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const serve = new ServeProcess(child);
    const exited = serve.#done.then((status) => {
      throw new Error(`serve exited with ${status.code} before serving:\n${serve.stderr.join("\n")}`);
    });
    await Promise.race([serve.waitFor(() => serve.stderr.some((line) => line.includes("serving")), 60_000), exited]);
    return serve;
  }

  /** The serve process's id (`ip netns exec` execs serve, so it is serve's own). */
  get pid(): number {
    return this.#child.pid;
  }

  /** Waits until `condition` holds (checked on every new output line), or fails after `timeoutMs`. */
  async waitFor(condition: () => boolean, timeoutMs = 20_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition()) {
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`timed out waiting for ${what}; stderr:\n${this.stderr.slice(-20).join("\n")}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Sends `signal` and returns the exit code once the process and its output have ended. */
  async stop(signal: Deno.Signal = "SIGTERM"): Promise<number> {
    try {
      this.#child.kill(signal);
    } catch {
      // Already gone.
    }
    const status = await this.#done;
    await Promise.all(this.#readers);
    return status.code;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.stop("SIGKILL");
  }

  async #collect(stream: ReadableStream<Uint8Array>, lines: string[]): Promise<void> {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
      for (const wake of this.#waiters.splice(0)) wake();
    }
    if (rest) lines.push(rest);
  }
}

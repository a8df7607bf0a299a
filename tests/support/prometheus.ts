/**
 * A real Prometheus (Debian's `prometheus`) inside a test's network namespace, scraping targets there every
 * second, with its own configuration and data folder; and plain HTTP GETs from inside a namespace with `curl`.
 *
 * @module
 */

import { join } from "node:path";
import type { NetNs } from "./netns.ts";

/** The status and body of a GET made inside a namespace. */
export async function httpGet(ns: NetNs, url: string): Promise<{ status: number; body: string }> {
  const output = await ns.exec("curl", ["-sS", "-g", "--max-time", "10", "-o", "-", "-w", "\n%{http_code}", url]);
  const at = output.lastIndexOf("\n");
  return { status: Number(output.slice(at + 1)), body: output.slice(0, at) };
}

/** One instant-vector sample: `name{label="value",…}` (labels sorted, `instance` and `job` left out) → value. */
export type Samples = Map<string, number>;

/** The key {@link Samples} uses for a series. */
export function seriesKey(name: string, labels: Record<string, string> = {}): string {
  const text = Object.keys(labels).sort().map((label) => `${label}="${labels[label]}"`).join(",");
  return text ? `${name}{${text}}` : name;
}

/** A running Prometheus; its folder and process go on dispose. */
export class Prometheus implements AsyncDisposable {
  readonly #ns: NetNs;
  readonly #dir: string;
  readonly #child: Deno.ChildProcess;
  readonly #stderr: Promise<string>;
  readonly #api: string;

  private constructor(ns: NetNs, dir: string, child: Deno.ChildProcess, listen: string) {
    this.#ns = ns;
    this.#dir = dir;
    this.#child = child;
    this.#stderr = new Response(child.stderr).text();
    this.#api = `http://${listen}`;
  }

  /**
   * Starts Prometheus in `ns`, listening on `listen` (e.g. `[::1]:9090`), scraping `target` (`host:port`) every
   * second as job `job`; resolves once it is ready.
   */
  static async start(ns: NetNs, listen: string, job: string, target: string): Promise<Prometheus> {
    const dir = await Deno.makeTempDir({ prefix: "siderolink-prometheus-" });
    const config = join(dir, "prometheus.yml");
    await Deno.writeTextFile(
      config,
      JSON.stringify({
        global: { scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" },
        scrape_configs: [{ job_name: job, static_configs: [{ targets: [target] }] }],
      }),
    );
    const child = new Deno.Command("ip", {
      args: ns.wrap("prometheus", [
        `--config.file=${config}`,
        `--storage.tsdb.path=${join(dir, "data")}`,
        `--web.listen-address=${listen}`,
        "--log.level=warn",
      ]),
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const prometheus = new Prometheus(ns, dir, child, listen);
    const deadline = Date.now() + 30_000;
    for (;;) {
      const ready = await httpGet(ns, `${prometheus.#api}/-/ready`).catch(() => undefined);
      if (ready?.status === 200) return prometheus;
      if (Date.now() > deadline) {
        await prometheus[Symbol.asyncDispose]();
        throw new Error(`prometheus did not get ready: ${await prometheus.#stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /** The instant vector `query` evaluates to now, through the HTTP API (`/api/v1/query`). */
  async query(query: string): Promise<Samples> {
    const url = `${this.#api}/api/v1/query?query=${encodeURIComponent(query)}`;
    const { status, body } = await httpGet(this.#ns, url);
    if (status !== 200) throw new Error(`prometheus answered ${status} to ${query}: ${body}`);
    const answer = JSON.parse(body) as {
      data: { resultType: string; result: { metric: Record<string, string>; value: [number, string] }[] };
    };
    const samples: Samples = new Map();
    for (const { metric, value } of answer.data.result) {
      const { __name__: name, instance: _instance, job: _job, ...labels } = metric;
      samples.set(seriesKey(name, labels), Number(value[1]));
    }
    return samples;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.#child.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await this.#child.status;
    await this.#stderr.catch(() => "");
    await Deno.remove(this.#dir, { recursive: true });
  }
}

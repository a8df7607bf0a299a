/**
 * `siderolink logs`: the machines' kernel logs from the running daemon's history (and, with `--follow`, as
 * they arrive), or filtered from standard input with `--stdin`.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.ts";
import { canonicalUuid } from "../addressing.ts";
import { UserError } from "../errors.ts";
import { controlGet } from "../control/client.ts";
import { logsPath } from "../control/logs_route.ts";
import { type LineFilter, parseSince } from "../logs/filter.ts";
import { type LineRenderer, lineRenderer, LOG_FORMATS, type LogFormat } from "../logs/format.ts";
import { TALOS_LEVELS, type TalosLevel } from "../logs/record.ts";
import { filterStream, readChunks } from "../logs/stdin_filter.ts";
import { DEFAULT_CONTROL_SOCKET, envName } from "./defaults.ts";

interface LogsOptions {
  cluster?: string;
  namespace?: string;
  machine?: string;
  level?: TalosLevel;
  follow?: boolean;
  tail?: number;
  /** ms since the epoch. */
  since?: number;
  format: LogFormat;
  stdin?: boolean;
  events?: boolean;
  controlSocket: string;
}

/** Where `logs` writes; `Deno.stdout` unless a test gives another. */
export interface LogsOutput {
  write(bytes: Uint8Array): Promise<number>;
  isTerminal(): boolean;
}

/** Builds the `logs` subcommand; `input` and `output` stand for stdin and stdout (tests). */
export function logsCommand(
  input: { readSync(buffer: Uint8Array): number | null } = Deno.stdin,
  output: LogsOutput = Deno.stdout,
): Command {
  return new Command("logs")
    .description("show the machines' kernel logs from the daemon's history, or filter them from stdin")
    .argument("[server-uuid...]", "only these machines (any letter case)")
    .option("--cluster <name>", "only lines annotated with this cluster")
    .option("--namespace <name>", "only lines annotated with this namespace")
    .option("--machine <name>", "only lines annotated with this machine name")
    .addOption(new Option("--level <level>", "this talos-level and more severe ones").choices(TALOS_LEVELS))
    .option("-f, --follow", "after the history, print new lines as they arrive, until interrupted")
    .addOption(
      new Option(
        "--tail <n>",
        "the last N matching lines of the history; default all of it, as `kubectl logs` and " +
          "`omnictl machine-logs` do (-1 also means all, 0 none: with --follow, only new lines)",
      ).argParser(parseTail),
    )
    .addOption(
      new Option("--since <when>", "by record time: a duration back from now (10m, 1h30m) or an RFC 3339 time")
        .argParser(parseSinceFlag),
    )
    .addOption(
      new Option(
        "--format <format>",
        "json: the documented line as serve prints it; dmesg: [seconds.micros] facility: message; " +
          "pretty: time, level, machine, message",
      ).choices(LOG_FORMATS).default("json"),
    )
    .addOption(
      new Option(
        "--stdin",
        "filter documented lines from standard input instead of asking the daemon " +
          "(lines that are not JSON are skipped); --tail then counts back from the input's end",
      ).conflicts("follow"),
    )
    .addOption(
      new Option(
        "--events",
        "instead of kernel-log lines, the event lines serve prints, live from now on (no history, no filters): " +
          "what a `serverevents` container runs",
      ).conflicts(["stdin", "tail", "since", "format", "cluster", "namespace", "machine", "level"]),
    )
    .addOption(
      new Option("--control-socket <path>", "the daemon's control socket").default(DEFAULT_CONTROL_SOCKET)
        .env(envName("control-socket")),
    )
    .addHelpText(
      "after",
      `
Examples:
  siderolink logs -f --format pretty --cluster prod --level warn
  siderolink logs 0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f --since 1h --format dmesg
  kubectl -n sidero-system logs deployment/sidero-controller-manager -c serverlogs \\
    | siderolink logs --stdin 0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f`,
    )
    .action(async (uuids: string[], options: LogsOptions) => {
      if (options.events && uuids.length > 0) {
        throw new UsageError("--events takes no server UUIDs: it shows every event");
      }
      const filter: LineFilter = {};
      if (uuids.length > 0) filter.uuids = uuids.map(canonicalUuid);
      if (options.cluster !== undefined) filter.cluster = options.cluster;
      if (options.namespace !== undefined) filter.namespace = options.namespace;
      if (options.machine !== undefined) filter.machine = options.machine;
      if (options.level !== undefined) filter.level = options.level;
      if (options.since !== undefined) filter.sinceMs = options.since;
      const tail = options.tail === -1 ? undefined : options.tail;
      const colours = options.format === "pretty" && output.isTerminal() && !Deno.noColor;
      const render = lineRenderer(options.format, colours);
      const write = (text: string) => writeAll(output, encoder.encode(text));
      try {
        if (options.stdin) {
          await filterStream((into) => input.readSync(into), write, { filter, render, tail });
          return;
        }
        const path = options.events ? "/v1/events" : logsPath({ filter, tail, follow: options.follow ?? false });
        await fromDaemon(options.controlSocket, path, options.format === "json" ? undefined : write, output, render);
      } catch (error) {
        if (error instanceof Deno.errors.BrokenPipe) return; // the reader went away (`| head`): nothing to say
        throw error;
      }
    });
}

const encoder = new TextEncoder();

/**
 * Prints the daemon's answer. It is the documented lines themselves, so JSON output passes its bytes through;
 * other formats parse and render each line.
 */
async function fromDaemon(
  socket: string,
  path: string,
  write: ((text: string) => Promise<void>) | undefined,
  output: LogsOutput,
  render: LineRenderer,
): Promise<void> {
  const body = (await controlGet(socket, path, "or filter saved output with --stdin")).body ??
    ReadableStream.from<Uint8Array>([]);
  // Errors of the body are the daemon's (it stopped, or dropped a follower that fell behind); of output, ours.
  const chunks = (async function* () {
    try {
      yield* body;
    } catch (error) {
      throw new UserError(
        `the daemon at ${socket} ended the log stream (${(error as Error).message}): it stopped, ` +
          "or this reader fell too far behind",
      );
    }
  })();
  if (!write) { for await (const chunk of chunks) await writeAll(output, chunk); }
  else await filterStream(readChunks(chunks), write, { filter: {}, render });
}

async function writeAll(output: LogsOutput, bytes: Uint8Array): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await output.write(bytes.subarray(offset));
}

/** Parses `--tail`: a whole number, or -1 for all. */
function parseTail(text: string): number {
  if (!/^(-1|\d+)$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new InvalidArgumentError("want a whole number (or -1 for all).");
  }
  return Number(text);
}

/** Parses `--since` into ms since the epoch, relative to now for a duration. */
function parseSinceFlag(text: string): number {
  try {
    return parseSince(text, Date.now());
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
}

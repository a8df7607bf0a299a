/**
 * The command tree of the siderolink CLI (commander): one subcommand per job, each module loaded only when it runs.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import denoJson from "../../deno.json" with { type: "json" };
import { LOG_LEVELS, setupLogging } from "../log.ts";
import type { LogLevel } from "@logtape/logtape";

/**
 * Each subcommand's module, loaded only when it runs (or for the overall help): `peers` at 10,000 peers is a
 * benchmark against `wg show`, and the modules of `serve` and `logs` alone took longer to load than `wg` takes.
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./serve.ts")).serveCommand(),
  peers: async () => (await import("./peers.ts")).peersCommand(),
  logs: async () => (await import("./logs.ts")).logsCommand(),
  addr: async () => (await import("./addr.ts")).addrCommand(),
};

/**
 * Builds the command tree for `args`: the subcommand they name, or every one when they name none (help, a
 * mistyped name). `exitOverride` makes commander throw instead of exiting, so the caller decides.
 */
export async function buildProgram(args: string[]): Promise<Command> {
  // The first argument that is a subcommand's name is the subcommand: options before it take no such value.
  const named = args.find((arg) => Object.hasOwn(SUBCOMMANDS, arg));
  const program = new Command("siderolink")
    .description("SideroLink server: a WireGuard overlay to Talos machines, their kernel logs and events")
    .version(denoJson.version)
    .addOption(
      new Option("--log-level <level>", "diagnostic detail on stderr").choices(LOG_LEVELS).default("info")
        .env("SIDEROLINK_LOG_LEVEL"),
    )
    .showHelpAfterError(false)
    .hook("preAction", (command) => setupLogging(command.opts().logLevel as LogLevel));
  for (const name of named ? [named] : Object.keys(SUBCOMMANDS)) program.addCommand(await SUBCOMMANDS[name]());
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, "siderolink: ")),
    });
  }
  return program;
}

/**
 * Parses `args` and runs the command they name. Returns the exit code of help, version and parse errors (already
 * printed as one line); any other error is thrown, for the caller to report.
 */
export async function runProgram(program: Command, args: string[]): Promise<number> {
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    throw error;
  }
}

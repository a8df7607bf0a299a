#!/usr/bin/env -S deno run --allow-all
/**
 * The siderolink command line: one entrypoint, one subcommand per job.
 *
 * Errors a user can cause end as one line on stderr: exit code 2 for a wrong flag or value, 1 for
 * anything else the command met. Only a bug shows a stack trace, and only at `--log-level debug`.
 *
 * @module
 */

import { Command, CommanderError, Option } from "commander";
import denoJson from "./deno.json" with { type: "json" };
import { UserError } from "./src/errors.ts";
import { LOG_LEVELS, setupLogging } from "./src/log.ts";
import type { LogLevel } from "@logtape/logtape";

/**
 * Each subcommand's module, loaded only when it runs (or for the overall help): `peers` at 10,000 peers is a
 * benchmark against `wg show`, and the modules of `serve` and `logs` alone took longer to load than `wg` takes.
 */
const SUBCOMMANDS: Record<string, () => Promise<Command>> = {
  serve: async () => (await import("./src/cli/serve.ts")).serveCommand(),
  peers: async () => (await import("./src/cli/peers.ts")).peersCommand(),
  logs: async () => (await import("./src/cli/logs.ts")).logsCommand(),
  addr: async () => (await import("./src/cli/addr.ts")).addrCommand(),
};

/**
 * Builds the command tree for `args`: the subcommand they name, or every one when they name none (help, a
 * mistyped name). `exitOverride` makes commander throw instead of exiting, so `main` decides.
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

/** Runs the CLI with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const program = await buildProgram(args);
  try {
    await program.parseAsync(args, { from: "user" });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version end with exit code 0; every parse error was already printed as one line.
      return error.exitCode === 0 ? 0 : 2;
    }
    if (error instanceof UserError) {
      console.error(`siderolink: ${error.message}`);
      return error.exitCode;
    }
    const debug = program.opts().logLevel === "debug" || program.opts().logLevel === "trace";
    console.error(
      `siderolink: internal error: ${(error as Error)?.message ?? error}${
        debug ? "" : " (rerun with --log-level debug for details)"
      }`,
    );
    if (debug) console.error((error as Error)?.stack);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));

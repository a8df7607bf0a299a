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
import { addrCommand } from "./src/cli/addr.ts";
import { logsCommand } from "./src/cli/logs.ts";
import { peersCommand } from "./src/cli/peers.ts";
import { serveCommand } from "./src/cli/serve.ts";
import { UserError } from "./src/errors.ts";
import { LOG_LEVELS, setupLogging } from "./src/log.ts";
import type { LogLevel } from "@logtape/logtape";

/** Builds the whole command tree; `exitOverride` makes commander throw instead of exiting, so `main` decides. */
export function buildProgram(): Command {
  const program = new Command("siderolink")
    .description("SideroLink server: a WireGuard overlay to Talos machines, their kernel logs and events")
    .version(denoJson.version)
    .addOption(
      new Option("--log-level <level>", "diagnostic detail on stderr").choices(LOG_LEVELS).default("info")
        .env("SIDEROLINK_LOG_LEVEL"),
    )
    .showHelpAfterError(false)
    .hook("preAction", (command) => setupLogging(command.opts().logLevel as LogLevel));
  program.addCommand(serveCommand());
  program.addCommand(peersCommand());
  program.addCommand(logsCommand());
  program.addCommand(addrCommand());
  for (const command of [program, ...program.commands]) {
    command.exitOverride().configureOutput({
      outputError: (text, write) => write(text.replace(/^error: /, "siderolink: ")),
    });
  }
  return program;
}

/** Runs the CLI with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  const program = buildProgram();
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

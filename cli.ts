#!/usr/bin/env -S deno run --allow-all
/**
 * The siderolink command line: one entrypoint, one subcommand per job.
 *
 * Errors a user can cause end as one line on stderr: exit code 2 for a wrong flag or value, 1 for
 * anything else the command met. Only a bug shows a stack trace, and only at `--log-level debug`.
 *
 * @module
 */

import type { Command } from "commander";
import { UserError } from "./src/errors.ts";
import { plainPeersRequest, printFromDaemon } from "./src/cli/peers_print.ts";

/**
 * The command tree, named apart from its import: Deno loads and resolves the module of an `import("…")` with a
 * literal at start-up, before the first line runs, and for this one (commander and every subcommand) that took 13 of
 * the 30 ms a plain `peers` needs to start. `deno compile` and the image's cache name it as an entrypoint of its own.
 */
const PROGRAM = "./src/cli/program.ts";

/** Runs the CLI with `args` and returns the process exit code. */
export async function main(args: string[]): Promise<number> {
  let program: Command | undefined;
  try {
    // A plain `peers` asks the daemon without loading commander (see peers_print.ts); the rest goes through it.
    const plainPeers = plainPeersRequest(args, Deno.env.toObject());
    if (plainPeers) {
      await printFromDaemon(plainPeers);
      return 0;
    }
    const { buildProgram, runProgram } = await import(PROGRAM) as typeof import("./src/cli/program.ts");
    program = await buildProgram(args);
    return await runProgram(program, args);
  } catch (error) {
    if (error instanceof UserError) {
      console.error(`siderolink: ${error.message}`);
      return error.exitCode;
    }
    const debug = ["debug", "trace"].includes(program?.opts().logLevel);
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

/**
 * A stand-in entry point that runs `siderolink logs` the way `cli.ts` runs its subcommands (one error line,
 * exit code 2 for usage, 1 for runtime errors), for the tests until `cli.ts` registers `logs`; the tests use
 * `cli.ts` itself as soon as it does, and this file can then go.
 *
 * @module
 */

import { CommanderError } from "commander";
import { logsCommand } from "../../src/cli/logs.ts";
import { UserError } from "../../src/errors.ts";

const command = logsCommand().exitOverride().configureOutput({
  outputError: (text, write) => write(text.replace(/^error: /, "siderolink: ")),
});
try {
  await command.parseAsync(Deno.args, { from: "user" });
  Deno.exit(0);
} catch (error) {
  if (error instanceof CommanderError) Deno.exit(error.exitCode === 0 ? 0 : 2);
  if (!(error instanceof UserError)) throw error;
  console.error(`siderolink: ${error.message}`);
  Deno.exit(error.exitCode);
}

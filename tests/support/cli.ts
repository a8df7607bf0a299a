/**
 * Runs the siderolink CLI as a user would, in a child process, and captures its output.
 *
 * @module
 */

const CLI = new URL("../../cli.ts", import.meta.url).pathname;

/** What one CLI run printed and how it ended. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The arguments of the pinned Deno (`Deno.execPath()`) that run `siderolink <args>`, for a runner of its own. */
export function cliArgs(args: string[]): string[] {
  return ["run", "--allow-all", "--frozen", CLI, ...args];
}

/** Runs `siderolink <args>` with the pinned Deno this test runs under. */
export async function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: cliArgs(args),
    env: { NO_COLOR: "1", ...env },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

/**
 * Errors the CLI turns into one line on stderr and an exit code, never a stack trace.
 *
 * `UsageError` (exit 2) is for what the user typed; `UserError` (exit 1) for a problem with the
 * environment the command met (a missing state, an unreachable daemon, a corrupt file).
 *
 * @example
 * ```ts
 * throw new UsageError("--installation-id and --state-dir exclude each other");
 * ```
 */
export class UserError extends Error {
  readonly exitCode: number = 1;
}

/** A wrong flag, argument or value: exit code 2. */
export class UsageError extends UserError {
  override readonly exitCode: number = 2;
}

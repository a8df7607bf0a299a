/**
 * `--config FILE`: option values from a YAML or JSON mapping whose keys are the long flag names without `--`
 * (`state-dir: /var/lib/siderolink`). Precedence: flags, then `SIDEROLINK_*` environment, then the file, then
 * defaults; so a file value only fills an option that still holds its default.
 *
 * @module
 */

import type { Command, Option } from "commander";
import { parse } from "yaml";
import { UsageError, UserError } from "../errors.ts";

/**
 * Applies the file's values to `command`'s options, validating each with the option's own parser and choices.
 *
 * @example
 * ```ts
 * applyConfigFile(serveCommand, "/etc/siderolink.yaml");
 * ```
 */
export function applyConfigFile(command: Command, path: string): void {
  let document: unknown;
  try {
    document = parse(Deno.readTextFileSync(path));
  } catch (error) {
    throw new UserError(`config ${path}: ${(error as Error).message.split("\n")[0]}`);
  }
  if (document === null || document === undefined) return;
  if (typeof document !== "object" || Array.isArray(document)) {
    throw new UsageError(`config ${path}: want a mapping of flag names to values`);
  }
  for (const [key, value] of Object.entries(document as Record<string, unknown>)) {
    const option = command.options.find((candidate) => candidate.long === `--${key}`);
    if (!option || key === "config") {
      throw new UsageError(
        `config ${path}: unknown setting ${JSON.stringify(key)} (settings are the flags of ${command.name()})`,
      );
    }
    const name = option.attributeName();
    const source = command.getOptionValueSource(name);
    if (source !== undefined && source !== "default") continue;
    command.setOptionValueWithSource(name, convert(option, value, `config ${path}: ${key}`), "config");
  }
}

function convert(option: Option, value: unknown, where: string): unknown {
  if (option.isBoolean()) {
    if (typeof value !== "boolean") throw new UsageError(`${where}: want true or false`);
    return option.negate ? !value : value;
  }
  if (typeof value !== "string" && typeof value !== "number") throw new UsageError(`${where}: want a single value`);
  const text = String(value);
  if (option.argChoices && !option.argChoices.includes(text)) {
    throw new UsageError(`${where}: ${JSON.stringify(text)} is not one of ${option.argChoices.join(", ")}`);
  }
  try {
    return option.parseArg ? option.parseArg(text, undefined) : text;
  } catch (error) {
    throw new UsageError(`${where}: ${(error as Error).message}`);
  }
}

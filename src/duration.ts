/**
 * Durations as operators write them: `90s`, `5m`, `1h30m`, `30d` (units d, h, m, s, ms).
 *
 * @module
 */

const UNIT_MS: Record<string, number> = { d: 86_400_000, h: 3_600_000, m: 60_000, s: 1_000, ms: 1 };

/**
 * Parses a duration into milliseconds, or throws a `RangeError` saying what is expected.
 *
 * @example
 * ```ts
 * parseDuration("1h30m"); // 5_400_000
 * ```
 */
export function parseDuration(text: string): number {
  const parts = [...text.matchAll(/(\d+)(ms|d|h|m|s)/g)];
  if (parts.length === 0 || parts.map((part) => part[0]).join("") !== text) {
    throw new RangeError(`${JSON.stringify(text)} is not a duration: want e.g. 90s, 5m, 1h30m, 30d`);
  }
  return parts.reduce((total, [, amount, unit]) => total + Number(amount) * UNIT_MS[unit], 0);
}

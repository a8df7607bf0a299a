/**
 * Human formats shared by `peers` and `logs`, in the style of `wg show`.
 *
 * @module
 */

const AGE_UNITS: [string, number][] = [["year", 365 * 86_400], ["day", 86_400], ["hour", 3_600], ["minute", 60], [
  "second",
  1,
]];

/**
 * How long ago `then` was, as `wg show` says it: `1 minute, 3 seconds ago`; `Now` under a second.
 *
 * @example
 * ```ts
 * formatAge(new Date(Date.now() - 63_000), new Date()); // "1 minute, 3 seconds ago"
 * ```
 */
export function formatAge(then: Date, now: Date): string {
  let seconds = Math.max(0, Math.floor((now.getTime() - then.getTime()) / 1000));
  if (seconds === 0) return "Now";
  const parts: string[] = [];
  for (const [unit, size] of AGE_UNITS) {
    const count = Math.floor(seconds / size);
    seconds -= count * size;
    if (count > 0) parts.push(`${count} ${unit}${count === 1 ? "" : "s"}`);
  }
  return `${parts.join(", ")} ago`;
}

/**
 * Bytes in binary units as `wg show` prints them: `512 B`, `1.50 KiB`, `3.20 MiB`.
 *
 * @example
 * ```ts
 * formatBytes(1536); // "1.50 KiB"
 * ```
 */
export function formatBytes(bytes: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  if (bytes < 1024) return `${bytes} B`;
  let value = bytes / 1024, unit = 0;
  while (value >= 1024 && unit < units.length - 1) [value, unit] = [value / 1024, unit + 1];
  return `${value.toFixed(2)} ${units[unit]}`;
}

/** Lays rows out in columns separated by two spaces; cells may carry colour codes, which take no width. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map(visibleLength);
  for (const row of rows) {
    for (let column = 0; column < row.length - 1; column++) {
      const width = visibleLength(row[column]);
      if (width > widths[column]) widths[column] = width;
    }
  }
  // One string grown cell by cell, with the padding cut from one run of spaces: 10,000 peers make 100,000 cells.
  const spaces = " ".repeat(Math.max(0, ...widths) + 2);
  let text = "";
  for (const row of [header, ...rows]) {
    if (row !== header) text += "\n";
    const last = row.length - 1;
    for (let column = 0; column < last; column++) {
      const cell = row[column];
      text += cell + spaces.slice(0, widths[column] - visibleLength(cell) + 2);
    }
    text += row[last];
  }
  return text;
}

function visibleLength(cell: string): number {
  // ANSI colour codes start with ESC, a control character on purpose.
  // deno-lint-ignore no-control-regex
  return cell.includes("\x1b") ? cell.replace(/\x1b\[[0-9;]*m/g, "").length : cell.length;
}

/** Wraps text in an ANSI colour when `enabled`. */
export function colour(text: string, code: "red" | "green" | "yellow" | "dim", enabled: boolean): string {
  if (!enabled) return text;
  const codes = { red: 31, green: 32, yellow: 33, dim: 2 };
  return `\x1b[${codes[code]}m${text}\x1b[0m`;
}

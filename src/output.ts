/**
 * Writing whole buffers to the standard streams synchronously, looping over partial writes.
 *
 * @module
 */

/**
 * Writes all of `bytes` to `stream` (`Deno.stdout`, `Deno.stderr`).
 *
 * @example
 * ```ts
 * writeAllSync(Deno.stdout, new TextEncoder().encode("done\n"));
 * ```
 */
export function writeAllSync(stream: { writeSync(bytes: Uint8Array): number }, bytes: Uint8Array): void {
  for (let offset = 0; offset < bytes.length;) offset += stream.writeSync(bytes.subarray(offset));
}

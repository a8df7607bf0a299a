/**
 * The siderolink library surface: SideroLink addressing, WireGuard keys and the installation's types.
 *
 * @example
 * ```ts
 * import { networkPrefix, formatIPv6 } from "./mod.ts";
 * formatIPv6(networkPrefix("")); // "fdae:41e4:649b:9303::"
 * ```
 *
 * @module
 */

export * from "./src/addressing.ts";
export * from "./src/ipv6.ts";
export * from "./src/keys.ts";
export * from "./src/kernel_args.ts";
export type { Installation } from "./src/state/types.ts";

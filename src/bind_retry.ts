/**
 * Binding to the server's tunnel address right after it was added: the kernel may refuse it for a moment
 * (EADDRNOTAVAIL), so binding is retried for a while; any other error fails at once.
 *
 * @module
 */

import { logger } from "./log.ts";

/** How long binding is retried while the address is not usable yet. */
export const BIND_RETRY_MS = 20_000;

const BIND_RETRY_STEP_MS = 250;

const log = logger(["net"]);

/**
 * Calls `bind` until it succeeds, retrying for up to `retryMs` while it fails because the address is not
 * available yet; `what` names the listener in the one diagnostic line said while waiting.
 *
 * @example
 * ```ts
 * const listener = await bindWhenAvailable("kernel logs on [fd…::1]:4001", () => Deno.listen({ hostname, port }));
 * ```
 */
export async function bindWhenAvailable<T>(
  what: string,
  bind: () => T | Promise<T>,
  retryMs: number = BIND_RETRY_MS,
): Promise<T> {
  const deadline = Date.now() + retryMs;
  let waiting = false;
  for (;;) {
    try {
      return await bind();
    } catch (error) {
      if (!addressNotAvailable(error) || Date.now() >= deadline) throw error;
      if (!waiting) {
        waiting = true;
        log.info("waiting for the address of {what} to become available", { what });
      }
      await new Promise((resolve) => setTimeout(resolve, BIND_RETRY_STEP_MS));
    }
  }
}

/** Whether an error (or its cause) is EADDRNOTAVAIL, from Deno's own API or from `node:net`. */
function addressNotAvailable(error: unknown): boolean {
  for (let current = error; current; current = (current as { cause?: unknown }).cause) {
    if (current instanceof Deno.errors.AddrNotAvailable) return true;
    if ((current as { code?: unknown }).code === "EADDRNOTAVAIL") return true;
  }
  return false;
}

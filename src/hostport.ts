/**
 * `host:port` text, with an IPv6 host in brackets, as endpoints are written on the wire and in logs.
 *
 * @module
 */

/**
 * Formats `host:port`, bracketing an IPv6 host.
 *
 * @example
 * ```ts
 * formatHostPort("fdae:41e4:649b:9303::1", 4001); // "[fdae:41e4:649b:9303::1]:4001"
 * ```
 */
export function formatHostPort(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Splits `host:port` or `[v6]:port` (already validated) into the bare host and the port.
 *
 * @example
 * ```ts
 * splitHostPort("[::]:8081"); // { host: "::", port: 8081 }
 * ```
 */
export function splitHostPort(text: string): { host: string; port: number } {
  const at = text.lastIndexOf(":");
  return { host: text.slice(0, at).replace(/^\[(.*)\]$/, "$1"), port: Number(text.slice(at + 1)) };
}

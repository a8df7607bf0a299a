/**
 * The Talos kernel arguments that point a machine at this server (PROTOCOL.md §1).
 *
 * @module
 */

/** What the kernel arguments are built from. */
export interface KernelArgsInput {
  /** The server's tunnel address, bare (`fd…::1`). */
  serverAddress: string;
  logPort: number;
  eventPort: number;
  /** `host:port` of the Provision API as machines reach it; without it `siderolink.api` is left out. */
  apiEndpoint?: string;
  /** Whether the Provision API serves TLS (`https://`, which Talos checks against its system roots) or h2c. */
  apiTls?: boolean;
  /** Added as `?jointoken=` to `siderolink.api`. */
  joinToken?: string;
}

/**
 * Builds the kernel arguments, in the order an operator pastes them.
 *
 * @example
 * ```ts
 * kernelArgs({ serverAddress: "fdae:41e4:649b:9303::1", logPort: 4001, eventPort: 4002 });
 * // ["talos.logging.kernel=tcp://[fdae:41e4:649b:9303::1]:4001", "talos.events.sink=[fdae:41e4:649b:9303::1]:4002"]
 * ```
 */
export function kernelArgs(input: KernelArgsInput): string[] {
  const args: string[] = [];
  if (input.apiEndpoint) {
    const query = input.joinToken ? `?jointoken=${encodeURIComponent(input.joinToken)}` : "";
    args.push(`siderolink.api=${input.apiTls ? "https" : "grpc"}://${input.apiEndpoint}${query}`);
  }
  args.push(`talos.logging.kernel=tcp://[${input.serverAddress}]:${input.logPort}`);
  args.push(`talos.events.sink=[${input.serverAddress}]:${input.eventPort}`);
  return args;
}

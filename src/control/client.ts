/**
 * The client side of the control API: HTTP over the daemon's unix socket.
 *
 * @module
 */

import { UserError } from "../errors.ts";

/**
 * Sends `GET path` to the daemon and returns the response; an unreachable daemon is one clear error naming
 * the socket and what to try, ending with `fallback` (what the command can do without the daemon).
 *
 * @example
 * ```ts
 * const response = await controlGet("/run/siderolink/siderolink.sock", "/v1/peers", "or use --direct as root");
 * ```
 */
export async function controlGet(socket: string, path: string, fallback: string): Promise<Response> {
  const client = Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
  let response: Response;
  try {
    response = await fetch(`http://siderolink${path}`, { client });
  } catch (error) {
    client.close();
    throw new UserError(
      `cannot reach the daemon at ${socket} (${describe(error)}): is serve running? ` +
        `Pass its --control-socket, check that you may open the socket (root or its group), ${fallback}`,
    );
  }
  if (!response.ok) {
    const body = await response.text();
    client.close();
    throw new UserError(`daemon at ${socket} answered ${response.status}: ${body.trim()}`);
  }
  // The client must live as long as the body is read; closing it is left to the body's end.
  const body = response.body;
  if (!body) {
    client.close();
    return response;
  }
  const closing = body.pipeThrough(
    new TransformStream({ flush: () => client.close() }),
  );
  return new Response(closing, { status: response.status, headers: response.headers });
}

function describe(error: unknown): string {
  const cause = (error as { cause?: Error }).cause;
  const message = (cause ?? (error as Error)).message ?? String(error);
  if (/No such file|not found|ENOENT/i.test(message)) return "no such socket";
  if (/denied|EACCES/i.test(message)) return "permission denied";
  if (/refused/i.test(message)) return "connection refused";
  return message.split("\n")[0];
}

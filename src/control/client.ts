/**
 * The client side of the control API: HTTP over the daemon's unix socket.
 *
 * @module
 */

import { concatBytes } from "../bytes.ts";
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
    throw unreachable(socket, error, fallback);
  }
  if (!response.ok) {
    const body = await response.text();
    client.close();
    throw refused(socket, response.status, body);
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

/**
 * Sends `GET path` to the daemon on a connection of its own and yields the body's bytes as they arrive, for a
 * route that answers with the body's length (`/v1/peers`); errors as {@linkcode controlGet}.
 * Each piece lies in one buffer that the next read reuses: use it before asking for the next. At the 3.6 MB of
 * 10,000 peers `fetch` took some 20 ms more (its client, then the body through streams in 64 KiB chunks): `peers`
 * is measured against `wg show`.
 *
 * @example
 * ```ts
 * for await (const bytes of controlBody(socket, "/v1/peers?format=json", "or use --direct as root")) use(bytes);
 * ```
 */
export async function* controlBody(socket: string, path: string, fallback: string): AsyncGenerator<Uint8Array> {
  let connection: Deno.UnixConn;
  try {
    connection = await Deno.connect({ transport: "unix", path: socket });
  } catch (error) {
    throw unreachable(socket, error, fallback);
  }
  try {
    const request = `GET ${path} HTTP/1.1\r\nhost: siderolink\r\nconnection: close\r\n\r\n`;
    await connection.write(new TextEncoder().encode(request));
    const buffer = new Uint8Array(1024 * 1024);
    // The head (status line and headers) ends at the first empty line; what follows it is the start of the body.
    let head: Uint8Array = new Uint8Array(0), bodyStart = -1;
    while (bodyStart < 0) {
      const count = await connection.read(buffer);
      if (count === null) throw new UserError(`daemon at ${socket} closed the connection before answering`);
      head = concatBytes([head, buffer.subarray(0, count)]);
      bodyStart = endOfHead(head);
    }
    const { status, length } = parseHead(new TextDecoder().decode(head.subarray(0, bodyStart)), socket);
    let body = head.subarray(bodyStart);
    if (status !== 200) {
      for (let count; body.length < length && (count = await connection.read(buffer)) !== null;) {
        body = concatBytes([body, buffer.subarray(0, count)]);
      }
      throw refused(socket, status, new TextDecoder().decode(body));
    }
    let received = body.length;
    if (body.length > 0) yield body;
    while (received < length) {
      const count = await connection.read(buffer);
      if (count === null) {
        throw new UserError(`daemon at ${socket} ended its answer early (${received} of ${length} bytes)`);
      }
      received += count;
      yield buffer.subarray(0, count);
    }
  } finally {
    connection.close();
  }
}

// Where the body starts: after the first "\r\n\r\n", or -1 while the head is incomplete.
function endOfHead(bytes: Uint8Array): number {
  for (let i = 3; i < bytes.length; i++) {
    if (bytes[i] === 0x0a && bytes[i - 1] === 0x0d && bytes[i - 2] === 0x0a && bytes[i - 3] === 0x0d) return i + 1;
  }
  return -1;
}

// The status and the body's length of a response head; the control server gives a length with every whole body.
function parseHead(head: string, socket: string): { status: number; length: number } {
  const status = /^HTTP\/1\.1 (\d{3}) /.exec(head);
  const length = /\r\ncontent-length: *(\d+)\r\n/i.exec(head);
  if (!status || !length) throw new Error(`daemon at ${socket} answered without a status or a length: ${head}`);
  return { status: Number(status[1]), length: Number(length[1]) };
}

function unreachable(socket: string, error: unknown, fallback: string): UserError {
  return new UserError(
    `cannot reach the daemon at ${socket} (${describe(error)}): is serve running? ` +
      `Pass its --control-socket, check that you may open the socket (root or its group), ${fallback}`,
  );
}

function refused(socket: string, status: number, body: string): UserError {
  return new UserError(`daemon at ${socket} answered ${status}: ${body.trim()}`);
}

function describe(error: unknown): string {
  const cause = (error as { cause?: Error }).cause;
  const message = (cause ?? (error as Error)).message ?? String(error);
  if (/No such file|not found|ENOENT/i.test(message)) return "no such socket";
  if (/denied|EACCES/i.test(message)) return "permission denied";
  if (/refused/i.test(message)) return "connection refused";
  return message.split("\n")[0];
}

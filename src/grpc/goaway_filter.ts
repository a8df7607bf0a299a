/**
 * Keeps HTTP/2 GOAWAY frames sent by clients away from the runtime's `node:http2`.
 *
 * Why: in Deno 2.9.4 to 2.9.6, `node:http2` (under `@grpc/grpc-js`) frees memory it still uses when a client
 * sends GOAWAY with last-stream-id 0, which grpc-js and Node clients do on `close()` and anyone who reaches the
 * port can do on purpose. The whole process aborts and no JavaScript can catch it (denoland/deno#36788). A
 * client's GOAWAY only announces that it will open no more streams; without it the connection still ends with
 * the client's FIN, which `node:http2` handles cleanly. So every accepted connection goes through this filter.
 *
 * Delete this module, and pass the accepted socket straight to the server in `server.ts`, once the pinned Deno
 * contains the fix of denoland/deno#36788 and `tests/grpc_goaway_test.ts` passes without the filter.
 *
 * @module
 */

import type { Socket } from "node:net";
import { Duplex } from "node:stream";
import { concatBytes } from "../bytes.ts";

/** The client connection preface of HTTP/2 (RFC 9113 §3.4). */
const PREFACE = new TextEncoder().encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/** Size of an HTTP/2 frame header: 24-bit length, 8-bit type, 8-bit flags, 32-bit stream id (RFC 9113 §4.1). */
const FRAME_HEADER_LENGTH = 9;

/** Frame type of GOAWAY (RFC 9113 §6.8). */
const GOAWAY = 0x7;

/**
 * Removes GOAWAY frames from the client-to-server bytes of one HTTP/2 connection, chunk by chunk, passing every
 * other byte on unchanged and as soon as it arrives. Bytes that do not start with the HTTP/2 preface (an
 * HTTP/1.1 request, garbage) all pass unchanged, so that the server rejects them as usual.
 *
 * @example
 * ```ts
 * const filter = new GoawayFilter();
 * socket.on("data", (chunk) => forward(filter.filter(chunk)));
 * ```
 */
export class GoawayFilter {
  /** How many preface bytes matched so far; `PREFACE.length` once in frames, -1 once known not to be HTTP/2. */
  #prefaceMatched = 0;
  /** The header of the next frame while it arrives split across chunks. */
  readonly #header = new Uint8Array(FRAME_HEADER_LENGTH);
  #headerFilled = 0;
  /** Payload bytes of the current frame still to come. */
  #payloadLeft = 0;
  /** Whether the current frame is a GOAWAY being dropped. */
  #dropping = false;

  /** How many GOAWAY frames were dropped so far. */
  get dropped(): number {
    return this.#droppedCount;
  }
  #droppedCount = 0;

  /** Returns the bytes of `chunk` to pass on: `chunk` itself when nothing is held back or dropped. */
  filter(chunk: Uint8Array): Uint8Array {
    if (this.#prefaceMatched < 0) return chunk;
    const kept: Uint8Array[] = [];
    let runStart = 0; // chunk[runStart, i) is passed on
    let i = 0;
    while (i < chunk.length) {
      if (this.#prefaceMatched < PREFACE.length) {
        while (i < chunk.length && this.#prefaceMatched < PREFACE.length) {
          if (chunk[i] !== PREFACE[this.#prefaceMatched]) {
            this.#prefaceMatched = -1;
            return this.#join(kept, chunk, runStart);
          }
          this.#prefaceMatched++;
          i++;
        }
      } else if (this.#payloadLeft > 0) {
        const take = Math.min(this.#payloadLeft, chunk.length - i);
        this.#payloadLeft -= take;
        i += take;
        if (this.#dropping) runStart = i;
      } else if (this.#headerFilled === 0 && chunk.length - i >= FRAME_HEADER_LENGTH) {
        const dropping = this.#startFrame(chunk.subarray(i, i + FRAME_HEADER_LENGTH));
        if (dropping) kept.push(chunk.subarray(runStart, i));
        i += FRAME_HEADER_LENGTH;
        if (dropping) runStart = i;
      } else {
        // A header split across chunks is held back: the server could not act on part of a header anyway.
        kept.push(chunk.subarray(runStart, i));
        const take = Math.min(FRAME_HEADER_LENGTH - this.#headerFilled, chunk.length - i);
        this.#header.set(chunk.subarray(i, i + take), this.#headerFilled);
        this.#headerFilled += take;
        i += take;
        runStart = i;
        if (this.#headerFilled === FRAME_HEADER_LENGTH) {
          this.#headerFilled = 0;
          if (!this.#startFrame(this.#header)) kept.push(this.#header.slice());
        }
      }
    }
    return this.#join(kept, chunk, runStart);
  }

  /** Reads a complete frame header; returns whether the frame is dropped. */
  #startFrame(header: Uint8Array): boolean {
    this.#payloadLeft = (header[0] << 16) | (header[1] << 8) | header[2];
    this.#dropping = header[3] === GOAWAY;
    if (this.#dropping) this.#droppedCount++;
    return this.#dropping;
  }

  /** The kept pieces followed by the open run `chunk[runStart..]`, without copying when that is all of it. */
  #join(kept: Uint8Array[], chunk: Uint8Array, runStart: number): Uint8Array {
    const tail = chunk.subarray(runStart);
    if (kept.every((piece) => piece.length === 0) && tail.length === chunk.length) return chunk;
    const pieces = [...kept, tail].filter((piece) => piece.length > 0);
    return concatBytes(pieces);
  }
}

/** The socket fields a server reads to name the peer; they are copied because a closed socket forgets them. */
const ADDRESS_FIELDS = ["remoteAddress", "remotePort", "remoteFamily", "localAddress", "localPort", "localFamily"];

/**
 * Wraps an accepted connection in a stream that reads through a {@link GoawayFilter} and writes straight to the
 * socket, with backpressure both ways. The stream carries the socket's addresses (`remoteAddress`,
 * `remotePort`, …), so a gRPC handler's `call.getPeer()` still names the client.
 *
 * @example
 * ```ts
 * net.createServer((socket) => injector.injectConnection(filterGoaway(socket)));
 * ```
 */
export function filterGoaway(socket: Socket): Duplex {
  const filter = new GoawayFilter();
  const stream = new Duplex({
    read() {
      socket.resume();
    },
    write(chunk: Uint8Array, _encoding, callback) {
      socket.write(chunk, callback);
    },
    final(callback) {
      socket.end(callback);
    },
    destroy(error, callback) {
      socket.destroy();
      callback(error);
    },
  });
  for (const field of ADDRESS_FIELDS) {
    Object.defineProperty(stream, field, { value: socket[field as keyof Socket], enumerable: true });
  }
  socket.on("data", (chunk: Uint8Array) => {
    const passed = filter.filter(chunk);
    if (passed.length > 0 && !stream.push(passed)) socket.pause();
  });
  socket.on("end", () => stream.push(null));
  // A reset or a broken pipe only ends this connection: the HTTP/2 session sees the stream close.
  socket.on("error", () => stream.destroy());
  socket.on("close", () => stream.destroy());
  return stream;
}

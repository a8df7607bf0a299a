/**
 * One WireGuard-over-gRPC stream relayed to the WireGuard interface through a UDP socket of its own on loopback.
 *
 * Why a socket per stream: WireGuard learns a peer's endpoint from its authenticated datagrams, so when a
 * machine's datagrams arrive from this socket, WireGuard answers to it, and the kernel backend and wireguard-go
 * need nothing special (the Go servers instead plug a custom bind into wireguard-go, which the kernel cannot do).
 *
 * Memory is bounded in both directions, whatever the machine does:
 * - machine → WireGuard: at most {@link INBOUND_LIMIT} datagrams wait for the socket; at that the stream is
 *   paused, which stops grpc-js reading it and lets HTTP/2 flow control hold the machine back;
 * - WireGuard → machine: when the stream's send buffer is full (a slow or stalled reader), datagrams wait in a
 *   ring of {@link OUTBOUND_RING} that drops the oldest, counted, as a congested UDP path would;
 * - a message larger than any WireGuard datagram of the tunnel ({@link MAX_DATAGRAM}) ends the stream.
 *
 * @module
 */

import { status } from "@grpc/grpc-js";
import type * as grpc from "@grpc/grpc-js";
import dgram from "node:dgram";
import { DatagramRing } from "./datagram_ring.ts";
import { RELAY_HOST } from "./endpoint.ts";

/**
 * The largest WireGuard datagram of a tunnel with MTU 1280 (PROTOCOL.md §1): a transport message is a 16-byte
 * header, the inner packet padded to a multiple of 16 but never beyond the MTU, and a 16-byte tag, so
 * 16 + 1280 + 16; handshake messages (148, 92 and 64 bytes) are smaller.
 */
export const MAX_DATAGRAM = 1312;

/** Datagrams from the machine waiting for the socket that pause the stream (the reference's inbound queue is 100). */
export const INBOUND_LIMIT = 100;

/** Datagrams for the machine kept while its stream cannot take more (as the reference's ring per peer). */
export const OUTBOUND_RING = 100;

/** The one message of the stream, as protobufjs decodes it. */
export interface PeerPacket {
  Data: Uint8Array;
}

/** A `CreateStream` call as grpc-js hands it to the handler. */
export type TunnelCall = grpc.ServerDuplexStream<PeerPacket, PeerPacket>;

/** What every relay counts, summed over all streams (read by the metrics). */
export interface RelayCounters {
  /** Datagrams and bytes from machines sent to WireGuard. */
  datagramsIn: number;
  bytesIn: number;
  /** Datagrams and bytes from WireGuard written to machines' streams. */
  datagramsOut: number;
  bytesOut: number;
  /** Datagrams for machines dropped from a full ring (the stream was not read fast enough). */
  droppedSlowReader: number;
  /** Messages larger than {@link MAX_DATAGRAM}; each ended its stream. */
  droppedOversized: number;
  /** Datagrams the socket failed to send to WireGuard. */
  droppedSendFailed: number;
}

/** A fresh set of relay counters, all zero. */
export function relayCounters(): RelayCounters {
  return {
    datagramsIn: 0,
    bytesIn: 0,
    datagramsOut: 0,
    bytesOut: 0,
    droppedSlowReader: 0,
    droppedOversized: 0,
    droppedSendFailed: 0,
  };
}

/** How a relay ended, for the log. */
export interface RelayEnd {
  code: status;
  details: string;
}

/**
 * A stream and its socket. The stream ending (either side) closes the socket; {@link DatagramRelay.end} ends
 * the stream from this side with a status.
 *
 * @example
 * ```ts
 * const relay = await DatagramRelay.open(call, { wireguardPort: 51821, counters });
 * relay.closed.then((end) => log.info("stream ended: {details}", end));
 * relay.end({ code: status.ABORTED, details: "peer replaced" });
 * ```
 */
export class DatagramRelay {
  /** The socket's port on {@link RELAY_HOST}: the endpoint WireGuard learns for the machine. */
  readonly localPort: number;
  /** Resolves once the stream has ended and the socket is closed, with how it ended. */
  readonly closed: Promise<RelayEnd>;

  readonly #call: TunnelCall;
  readonly #socket: dgram.Socket;
  readonly #wireguardPort: number;
  readonly #counters: RelayCounters;
  readonly #ring = new DatagramRing(OUTBOUND_RING);
  #resolveClosed!: (end: RelayEnd) => void;
  #ended = false;
  /** The stream's send buffer is full: datagrams for the machine go to the ring until it drains. */
  #blocked = false;
  /** Datagrams from the machine waiting for the socket, oldest first; one is being sent while `#sending`. */
  readonly #toSend: Uint8Array[] = [];
  #sending = false;
  #paused = false;

  private constructor(call: TunnelCall, socket: dgram.Socket, wireguardPort: number, counters: RelayCounters) {
    this.#call = call;
    this.#socket = socket;
    this.#wireguardPort = wireguardPort;
    this.#counters = counters;
    this.localPort = socket.address().port;
    this.closed = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /** Binds the stream's socket and starts relaying. */
  static async open(
    call: TunnelCall,
    options: { wireguardPort: number; counters: RelayCounters },
  ): Promise<DatagramRelay> {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(0, RELAY_HOST, () => {
        socket.off("error", reject);
        resolve();
      });
    });
    const relay = new DatagramRelay(call, socket, options.wireguardPort, options.counters);
    relay.#start();
    return relay;
  }

  #start(): void {
    const call = this.#call;
    this.#socket.on("message", (datagram, from) => {
      // Only WireGuard's own replies: any other local process could otherwise write into the machine's stream.
      if (from.port === this.#wireguardPort && from.address === RELAY_HOST) this.#toMachine(datagram);
    });
    this.#socket.on("error", (error) => this.end({ code: status.INTERNAL, details: `relay socket: ${error.message}` }));
    call.on("data", (packet: PeerPacket) => this.#toWireguard(packet.Data));
    call.on("drain", () => this.#flush());
    // The machine half-closed: nothing more will come, so the stream ends here too.
    call.on("end", () => this.end({ code: status.OK, details: "the machine closed the stream" }));
    call.on("cancelled", () => this.#close({ code: status.CANCELLED, details: "the stream was cancelled" }));
    // grpc-js turns an error emitted on the call into its status; this only takes note that the stream is over.
    call.on(
      "error",
      (error: { details?: string; message?: string }) =>
        this.#close({ code: status.UNKNOWN, details: error.details ?? error.message ?? String(error) }),
    );
    call.on("close", () => this.#close({ code: status.OK, details: "the stream closed" }));
    // Gone while the socket was being bound: its `cancelled` came before anyone listened.
    if (call.cancelled) this.#close({ code: status.CANCELLED, details: "the stream was cancelled" });
  }

  /** Ends the stream with `end` (OK: a clean end; otherwise an error status) and closes the socket. */
  end(end: RelayEnd): void {
    if (this.#ended) return;
    this.#close(end);
    if (end.code === status.OK) this.#call.end();
    else this.#call.emit("error", { code: end.code, details: end.details });
  }

  #close(end: RelayEnd): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#ring.clear();
    this.#toSend.length = 0;
    this.#socket.close();
    this.#resolveClosed(end);
  }

  #toWireguard(datagram: Uint8Array): void {
    if (this.#ended) return;
    if (datagram.length > MAX_DATAGRAM) {
      this.#counters.droppedOversized++;
      this.end({
        code: status.RESOURCE_EXHAUSTED,
        details: `PeerPacket of ${datagram.length} bytes: a WireGuard datagram is at most ${MAX_DATAGRAM} bytes`,
      });
      return;
    }
    this.#toSend.push(datagram);
    if (this.#toSend.length >= INBOUND_LIMIT && !this.#paused) {
      this.#paused = true;
      this.#call.pause();
    }
    if (!this.#sending) this.#sendNext();
  }

  /**
   * Sends the oldest waiting datagram, and the next once that one is sent: the runtime's UDP sends that overlap
   * can leave in any order (seen with Deno 2.9.6's node:dgram), and WireGuard's peers are better served in order.
   */
  #sendNext(): void {
    const datagram = this.#toSend.shift();
    this.#sending = datagram !== undefined && !this.#ended;
    if (!this.#sending) return;
    if (this.#paused && this.#toSend.length < INBOUND_LIMIT / 2) {
      this.#paused = false;
      this.#call.resume();
    }
    this.#counters.datagramsIn++;
    this.#counters.bytesIn += datagram!.length;
    this.#socket.send(datagram!, this.#wireguardPort, RELAY_HOST, (error) => {
      if (error) this.#counters.droppedSendFailed++;
      this.#sendNext();
    });
  }

  #toMachine(datagram: Uint8Array): void {
    if (this.#ended) return;
    if (this.#blocked) {
      if (this.#ring.push(datagram)) this.#counters.droppedSlowReader++;
      return;
    }
    this.#write(datagram);
  }

  #write(datagram: Uint8Array): void {
    this.#counters.datagramsOut++;
    this.#counters.bytesOut += datagram.length;
    if (!this.#call.write({ Data: datagram })) this.#blocked = true;
  }

  #flush(): void {
    this.#blocked = false;
    while (!this.#blocked && !this.#ended) {
      const datagram = this.#ring.shift();
      if (!datagram) return;
      this.#write(datagram);
    }
  }
}

/**
 * Request and reply over a netlink socket: stamp a sequence number, send, and collect the reply messages until
 * the ack (NLMSG_ERROR with 0) or, for a dump, NLMSG_DONE. A kernel error becomes a {@linkcode NetlinkError}.
 *
 * @module
 */

import { NLM_F_DUMP, NLM_F_DUMP_INTR, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NLMSG_OVERRUN } from "./constants.ts";
import { setSequence } from "./encode.ts";
import { Errno, NetlinkError } from "./errors.ts";
import { type NetlinkMessage, parseDone, parseError, parseMessages } from "./parse.ts";
import { NetlinkSocket } from "./socket.ts";

/** How often a dump the kernel marked interrupted (state changed meanwhile) is retried. */
const DUMP_ATTEMPTS = 3;

/**
 * Collects the replies to one request from successive datagrams. Only messages addressed to this socket's port id
 * with the request's sequence number count; others are late replies to an earlier request (one that timed out)
 * and are skipped.
 */
export class ReplyCollector {
  /** The reply messages so far, without the final ack or done. */
  readonly messages: NetlinkMessage[] = [];
  /** Whether the kernel marked a dump message NLM_F_DUMP_INTR. */
  interrupted = false;
  readonly #sequence: number;
  readonly #portId: number;
  readonly #operation: string;

  /** Expects replies to `sequence` for `portId`; `operation` names the request in errors. */
  constructor(sequence: number, portId: number, operation: string) {
    this.#sequence = sequence;
    this.#portId = portId;
    this.#operation = operation;
  }

  /** Takes one datagram; returns true once the reply is complete, throws on a kernel error. */
  add(datagram: Uint8Array): boolean {
    for (const message of parseMessages(datagram)) {
      if (message.sequence !== this.#sequence || message.portId !== this.#portId || message.type === NLMSG_NOOP) {
        continue;
      }
      if (message.type === NLMSG_ERROR || message.type === NLMSG_DONE) {
        const status = message.type === NLMSG_ERROR ? parseError(message) : parseDone(message);
        if (status.errno !== 0) throw new NetlinkError(this.#operation, status.errno, status.extAck);
        return true;
      }
      if (message.type === NLMSG_OVERRUN) throw new Error(`${this.#operation}: netlink reported a data overrun`);
      if (message.flags & NLM_F_DUMP_INTR) this.interrupted = true;
      this.messages.push(message);
    }
    return false;
  }
}

/** A netlink socket that sends requests one at a time and returns their replies. */
export class NetlinkConnection implements Disposable {
  readonly #socket: NetlinkSocket;
  #sequence = Math.floor(Date.now() / 1000) >>> 0;

  private constructor(socket: NetlinkSocket) {
    this.#socket = socket;
  }

  /** Opens a connection on netlink protocol `protocol` (NETLINK_ROUTE, NETLINK_GENERIC). */
  static open(protocol: number): NetlinkConnection {
    return new NetlinkConnection(NetlinkSocket.open(protocol));
  }

  /**
   * Sends `message` and returns the reply messages. A non-dump request must carry NLM_F_ACK, so its end is the
   * ack; a dump ends with NLMSG_DONE and is retried when the kernel says it was interrupted. `operation` names the
   * request in errors.
   */
  request(message: Uint8Array<ArrayBuffer>, operation: string): NetlinkMessage[] {
    const dump = (new DataView(message.buffer, message.byteOffset).getUint16(6, true) & NLM_F_DUMP) === NLM_F_DUMP;
    for (let attempt = 1;; attempt++) {
      this.#sequence = (this.#sequence + 1) >>> 0;
      const collector = new ReplyCollector(this.#sequence, this.#socket.portId, operation);
      this.#socket.send(setSequence(message, this.#sequence));
      while (!collector.add(this.#socket.receive()));
      if (!dump || !collector.interrupted) return collector.messages;
      if (attempt === DUMP_ATTEMPTS) {
        throw new NetlinkError(`${operation}: the dump kept changing while it was read`, Errno.EINTR);
      }
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#socket.close();
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * A netlink socket: open, bind, send one message, receive one datagram, close. Receives block for at most
 * {@linkcode RECEIVE_TIMEOUT_SECONDS} (SO_RCVTIMEO), so a missing answer is an error instead of a hang.
 *
 * @module
 */

import {
  AF_NETLINK,
  MSG_PEEK,
  MSG_TRUNC,
  NETLINK_CAP_ACK,
  NETLINK_EXT_ACK,
  SO_RCVTIMEO,
  SOCK_CLOEXEC,
  SOCK_RAW,
  SOL_NETLINK,
  SOL_SOCKET,
} from "./constants.ts";
import { Errno, NetlinkError } from "./errors.ts";
import { errno, libc } from "./libc.ts";

/** How long a receive waits for the kernel before failing with a timeout. */
export const RECEIVE_TIMEOUT_SECONDS = 5;

/** Initial receive buffer; larger datagrams are detected with MSG_PEEK|MSG_TRUNC and the buffer grows. */
const INITIAL_RECEIVE_BUFFER = 64 * 1024;

// struct sockaddr_nl { sa_family_t nl_family; unsigned short nl_pad; __u32 nl_pid; __u32 nl_groups; }
const SOCKADDR_NL_SIZE = 12;

function sockaddrNl(): Uint8Array {
  const address = new Uint8Array(SOCKADDR_NL_SIZE);
  new DataView(address.buffer).setUint16(0, AF_NETLINK, true);
  return address;
}

function int32(value: number): Uint8Array {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setInt32(0, value, true);
  return bytes;
}

/** One netlink socket of one protocol (NETLINK_ROUTE, NETLINK_GENERIC), talking to the kernel. */
export class NetlinkSocket implements Disposable {
  /** The port id the kernel assigned to this socket (the `nlmsg_pid` of its replies). */
  readonly portId: number;
  #fd: number;
  #buffer = new Uint8Array(INITIAL_RECEIVE_BUFFER);
  readonly #kernel = sockaddrNl();

  private constructor(fd: number, portId: number) {
    this.#fd = fd;
    this.portId = portId;
  }

  /** Opens and binds a socket of `protocol` with a receive timeout and extended acks (needs `--allow-ffi`). */
  static open(protocol: number): NetlinkSocket {
    const c = libc();
    const fd = c.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, protocol);
    if (fd < 0) throw new NetlinkError(`socket(AF_NETLINK, ${protocol})`, errno());
    try {
      const timeout = new Uint8Array(16); // struct timeval { time_t tv_sec; suseconds_t tv_usec; } on 64-bit
      new DataView(timeout.buffer).setBigInt64(0, BigInt(RECEIVE_TIMEOUT_SECONDS), true);
      if (c.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, timeout, timeout.length) < 0) {
        throw new NetlinkError("setsockopt(SO_RCVTIMEO)", errno());
      }
      // Extended acks carry the kernel's reason text; capped acks do not echo the (possibly large) request.
      // Kernels older than 4.12 lack both, which only costs detail, so failures are ignored.
      c.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, int32(1), 4);
      c.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, int32(1), 4);
      const local = sockaddrNl();
      if (c.bind(fd, local, local.length) < 0) throw new NetlinkError("bind(AF_NETLINK)", errno());
      const length = int32(local.length);
      if (c.getsockname(fd, local, length) < 0) throw new NetlinkError("getsockname(AF_NETLINK)", errno());
      return new NetlinkSocket(fd, new DataView(local.buffer).getUint32(4, true));
    } catch (error) {
      c.close(fd);
      throw error;
    }
  }

  /** Sends one complete netlink message to the kernel. */
  send(message: Uint8Array<ArrayBuffer>): void {
    const sent = libc().sendto(this.#open(), message, BigInt(message.length), 0, this.#kernel, this.#kernel.length);
    if (sent < 0n) throw new NetlinkError("sendto(netlink)", errno());
    if (sent !== BigInt(message.length)) {
      throw new Error(`netlink sendto sent ${sent} of ${message.length} bytes`);
    }
  }

  /** Receives one datagram (which may hold several messages); throws after the receive timeout. */
  receive(): Uint8Array {
    const c = libc();
    const fd = this.#open();
    for (;;) {
      // Peek with MSG_TRUNC to learn the datagram's full length, so a large dump part is never cut short.
      const size = c.recv(fd, this.#buffer, BigInt(this.#buffer.length), MSG_PEEK | MSG_TRUNC);
      if (size < 0n) {
        const code = errno();
        if (code === Errno.EINTR) continue;
        if (code === Errno.EAGAIN) {
          throw new NetlinkError(`no netlink reply within ${RECEIVE_TIMEOUT_SECONDS} s`, Errno.EAGAIN);
        }
        throw new NetlinkError("recv(netlink)", code);
      }
      if (size > BigInt(this.#buffer.length)) this.#buffer = new Uint8Array(Number(size));
      const received = c.recv(fd, this.#buffer, BigInt(this.#buffer.length), 0);
      if (received < 0n) {
        const code = errno();
        if (code === Errno.EINTR) continue;
        throw new NetlinkError("recv(netlink)", code);
      }
      return this.#buffer.slice(0, Number(received));
    }
  }

  /** Closes the socket; closing twice is harmless. */
  close(): void {
    if (this.#fd < 0) return;
    libc().close(this.#fd);
    this.#fd = -1;
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }

  #open(): number {
    if (this.#fd < 0) throw new Error("the netlink socket is closed");
    return this.#fd;
  }
}

/**
 * rtnetlink for one job: create, configure, inspect and delete a network link and its IPv6 addresses
 * (linux/rtnetlink.h, linux/if_link.h, linux/if_addr.h). The `encode…`/`parse…` functions are the wire format;
 * {@linkcode RtNetlink} runs them over a socket.
 *
 * @module
 */

import { formatIPv6 } from "../../ipv6.ts";
import { NetlinkConnection } from "./connection.ts";
import {
  AF_INET6,
  AF_UNSPEC,
  NETLINK_ROUTE,
  NLM_F_ACK,
  NLM_F_CREATE,
  NLM_F_DUMP,
  NLM_F_EXCL,
  NLM_F_REQUEST,
} from "./constants.ts";
import { MessageBuilder } from "./encode.ts";
import { Errno, NetlinkError } from "./errors.ts";
import { parseCidr } from "./inet.ts";
import { type NetlinkMessage, parseAttributes } from "./parse.ts";

/** Creates a link (and, as a reply, describes one). */
export const RTM_NEWLINK = 16;
/** Deletes a link. */
export const RTM_DELLINK = 17;
/** Gets one link (or dumps all). */
export const RTM_GETLINK = 18;
/** Changes a link's flags or attributes. */
export const RTM_SETLINK = 19;
/** Adds an address (and, in a dump, describes one). */
export const RTM_NEWADDR = 20;
/** Dumps addresses. */
export const RTM_GETADDR = 22;

const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_LINKINFO = 18;
const IFLA_INFO_KIND = 1;
const IFF_UP = 0x1;
const IFA_ADDRESS = 1;
const IFA_LOCAL = 2;
const IFA_FLAGS = 8;
/** No duplicate address detection: the address is usable at once. */
const IFA_F_NODAD = 0x02;

// struct ifinfomsg { u8 family; u8 pad; u16 type; s32 index; u32 flags; u32 change; }
function ifinfomsg(index = 0, flags = 0, change = 0): Uint8Array {
  const bytes = new Uint8Array(16);
  const data = new DataView(bytes.buffer);
  data.setUint8(0, AF_UNSPEC);
  data.setInt32(4, index, true);
  data.setUint32(8, flags, true);
  data.setUint32(12, change, true);
  return bytes;
}

// struct ifaddrmsg { u8 family; u8 prefixlen; u8 flags; u8 scope; u32 index; }
function ifaddrmsg(prefixLength: number, flags: number, index: number): Uint8Array {
  const bytes = new Uint8Array(8);
  const data = new DataView(bytes.buffer);
  data.setUint8(0, AF_INET6);
  data.setUint8(1, prefixLength);
  data.setUint8(2, flags);
  data.setUint32(4, index, true);
  return bytes;
}

/** Throws unless `name` is a valid interface name (1–15 bytes, no `/`, `:` or whitespace, not `.` or `..`). */
export function checkLinkName(name: string): void {
  const length = new TextEncoder().encode(name).length;
  if (length === 0 || length > 15 || /[/:\s\0]/.test(name) || name === "." || name === "..") {
    throw new Error(`interface name "${name}" is invalid: 1 to 15 bytes without "/", ":" or whitespace`);
  }
}

/** RTM_GETLINK for the link named `name`. */
export function encodeGetLink(name: string): Uint8Array<ArrayBuffer> {
  return new MessageBuilder(RTM_GETLINK, NLM_F_REQUEST | NLM_F_ACK).bytes(ifinfomsg()).string(IFLA_IFNAME, name)
    .finish();
}

/** RTM_NEWLINK creating link `name` of `kind` (fails with EEXIST when it exists), with an optional MTU. */
export function encodeCreateLink(name: string, kind: string, mtu?: number): Uint8Array<ArrayBuffer> {
  const builder = new MessageBuilder(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    .bytes(ifinfomsg())
    .string(IFLA_IFNAME, name);
  if (mtu !== undefined) builder.u32(IFLA_MTU, mtu);
  return builder.nest(IFLA_LINKINFO, (b) => b.string(IFLA_INFO_KIND, kind)).finish();
}

/** RTM_SETLINK setting link `name` up or down and/or its MTU. */
export function encodeSetLink(name: string, options: { up?: boolean; mtu?: number }): Uint8Array<ArrayBuffer> {
  const builder = new MessageBuilder(RTM_SETLINK, NLM_F_REQUEST | NLM_F_ACK)
    .bytes(ifinfomsg(0, options.up ? IFF_UP : 0, options.up === undefined ? 0 : IFF_UP))
    .string(IFLA_IFNAME, name);
  if (options.mtu !== undefined) builder.u32(IFLA_MTU, options.mtu);
  return builder.finish();
}

/** RTM_DELLINK deleting link `name`. */
export function encodeDeleteLink(name: string): Uint8Array<ArrayBuffer> {
  return new MessageBuilder(RTM_DELLINK, NLM_F_REQUEST | NLM_F_ACK).bytes(ifinfomsg()).string(IFLA_IFNAME, name)
    .finish();
}

/** RTM_NEWADDR adding the IPv6 `cidr` to link `index` without duplicate address detection (EEXIST if present). */
export function encodeAddAddress(index: number, cidr: string): Uint8Array<ArrayBuffer> {
  const { address, prefixLength } = parseCidr(cidr, "address");
  if (address.length !== 16) throw new Error(`address "${cidr}" is not IPv6`);
  return new MessageBuilder(RTM_NEWADDR, NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL)
    .bytes(ifaddrmsg(prefixLength, IFA_F_NODAD, index))
    .binary(IFA_LOCAL, address)
    .binary(IFA_ADDRESS, address)
    .u32(IFA_FLAGS, IFA_F_NODAD)
    .finish();
}

/** RTM_GETADDR dump of every IPv6 address. */
export function encodeGetAddresses(): Uint8Array<ArrayBuffer> {
  return new MessageBuilder(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP).bytes(ifaddrmsg(0, 0, 0)).finish();
}

/** The interface index in an RTM_NEWLINK reply. */
export function parseLinkIndex(message: NetlinkMessage): number {
  if (message.type !== RTM_NEWLINK || message.payload.length < 16) {
    throw new Error(`unexpected reply to RTM_GETLINK: type ${message.type}, ${message.payload.length} bytes`);
  }
  return new DataView(message.payload.buffer, message.payload.byteOffset).getInt32(4, true);
}

/** The IPv6 addresses of link `index` in an RTM_GETADDR dump, as canonical CIDR text. */
export function parseAddresses(messages: NetlinkMessage[], index: number): string[] {
  const addresses: string[] = [];
  for (const { type, payload } of messages) {
    if (type !== RTM_NEWADDR || payload.length < 8) continue;
    const data = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    if (data.getUint8(0) !== AF_INET6 || data.getUint32(4, true) !== index) continue;
    const attributes = parseAttributes(payload.subarray(8));
    // IFA_LOCAL is the own address when a peer address is set (then IFA_ADDRESS is the peer's).
    const address = attributes.find((a) => a.type === IFA_LOCAL) ?? attributes.find((a) => a.type === IFA_ADDRESS);
    if (address?.value.length === 16) addresses.push(`${formatIPv6(address.value)}/${data.getUint8(1)}`);
  }
  return addresses;
}

/**
 * An rtnetlink socket managing links and their IPv6 addresses by interface name.
 *
 * @example
 * ```ts
 * using rt = RtNetlink.open();
 * rt.createLink("sl0", "bridge", 1280);
 * rt.setLink("sl0", { up: true });
 * rt.addAddress("sl0", "fd00::1/64");
 * rt.addresses("sl0"); // ["fd00::1/64", …]
 * rt.deleteLink("sl0");
 * ```
 */
export class RtNetlink implements Disposable {
  readonly #connection: NetlinkConnection;

  private constructor(connection: NetlinkConnection) {
    this.#connection = connection;
  }

  /** Opens an rtnetlink socket (needs `--allow-ffi`; changes need CAP_NET_ADMIN). */
  static open(): RtNetlink {
    return new RtNetlink(NetlinkConnection.open(NETLINK_ROUTE));
  }

  /** The index of link `name`, or undefined when there is no such link. */
  linkIndex(name: string): number | undefined {
    checkLinkName(name);
    try {
      const [reply] = this.#connection.request(encodeGetLink(name), `get link ${name}`);
      if (!reply) throw new Error(`get link ${name}: the kernel sent no link`);
      return parseLinkIndex(reply);
    } catch (error) {
      if (error instanceof NetlinkError && error.errno === Errno.ENODEV) return undefined;
      throw error;
    }
  }

  /** Creates link `name` of `kind` (e.g. `wireguard`, `bridge`) with an optional MTU; fails if it exists. */
  createLink(name: string, kind: string, mtu?: number): void {
    checkLinkName(name);
    this.#connection.request(encodeCreateLink(name, kind, mtu), `create link ${name} of kind ${kind}`);
  }

  /** Sets link `name` up or down and/or its MTU. */
  setLink(name: string, options: { up?: boolean; mtu?: number }): void {
    checkLinkName(name);
    this.#connection.request(encodeSetLink(name, options), `set link ${name}`);
  }

  /** Adds the IPv6 `cidr` (e.g. `fd00::1/64`) to link `name` without DAD; an address already there is kept. */
  addAddress(name: string, cidr: string): void {
    const index = this.#existingIndex(name);
    try {
      this.#connection.request(encodeAddAddress(index, cidr), `add address ${cidr} to ${name}`);
    } catch (error) {
      if (!(error instanceof NetlinkError && error.errno === Errno.EEXIST)) throw error;
    }
  }

  /** The IPv6 addresses of link `name` as canonical CIDR text. */
  addresses(name: string): string[] {
    const index = this.#existingIndex(name);
    return parseAddresses(this.#connection.request(encodeGetAddresses(), "list IPv6 addresses"), index);
  }

  /** Deletes link `name`; an absent link is not an error. */
  deleteLink(name: string): void {
    checkLinkName(name);
    try {
      this.#connection.request(encodeDeleteLink(name), `delete link ${name}`);
    } catch (error) {
      if (!(error instanceof NetlinkError && error.errno === Errno.ENODEV)) throw error;
    }
  }

  /** Closes the socket. */
  close(): void {
    this.#connection.close();
  }

  /** Closes the socket. */
  [Symbol.dispose](): void {
    this.close();
  }

  #existingIndex(name: string): number {
    const index = this.linkIndex(name);
    if (index === undefined) throw new Error(`link ${name} does not exist`);
    return index;
  }
}

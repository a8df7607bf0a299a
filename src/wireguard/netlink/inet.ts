/**
 * IP addresses, CIDRs and endpoints between their text form and the bytes netlink carries
 * (in_addr/in6_addr, sockaddr_in/sockaddr_in6). IPv6 text is canonical RFC 5952 (src/ipv6.ts).
 *
 * @module
 */

import { formatIPv6, parseIPv6 } from "../../ipv6.ts";
import { AF_INET, AF_INET6 } from "./constants.ts";

/** Size of `struct sockaddr_in`. */
const SOCKADDR_IN_SIZE = 16;
/** Size of `struct sockaddr_in6`. */
const SOCKADDR_IN6_SIZE = 28;

/** Parses dotted-quad IPv4 or IPv6 text into 4 or 16 bytes, or returns `undefined`. */
export function parseIP(text: string): Uint8Array | undefined {
  if (text.includes(":")) return parseIPv6(text);
  const parts = text.split(".");
  if (parts.length !== 4 || !parts.every((part) => /^(0|[1-9][0-9]{0,2})$/.test(part) && Number(part) < 256)) {
    return undefined;
  }
  return new Uint8Array(parts.map(Number));
}

/** Formats 4 bytes as dotted-quad or 16 bytes as canonical IPv6 text. */
export function formatIP(bytes: Uint8Array): string {
  return bytes.length === 4 ? bytes.join(".") : formatIPv6(bytes);
}

/** A CIDR as bytes: the address (4 or 16 bytes) and the prefix length. */
export interface Cidr {
  /** 4 bytes (IPv4) or 16 bytes (IPv6). */
  address: Uint8Array;
  /** Number of leading bits that form the prefix. */
  prefixLength: number;
}

/** Parses `address/prefix` (IPv4 or IPv6); `what` names the value in the error. */
export function parseCidr(text: string, what: string): Cidr {
  const match = /^([^/]+)\/(0|[1-9][0-9]{0,2})$/.exec(text);
  const address = match ? parseIP(match[1]) : undefined;
  const prefixLength = match ? Number(match[2]) : NaN;
  if (!address || !(prefixLength <= address.length * 8)) {
    throw new Error(`${what} "${text}" is not an IP address with a prefix length (e.g. fd00::1/128)`);
  }
  return { address, prefixLength };
}

/** Formats a CIDR as `address/prefix`. */
export function formatCidr(cidr: Cidr): string {
  return `${formatIP(cidr.address)}/${cidr.prefixLength}`;
}

/** The address family (AF_INET, AF_INET6) of a 4- or 16-byte address. */
export function addressFamily(address: Uint8Array): number {
  return address.length === 4 ? AF_INET : AF_INET6;
}

/** Encodes `ip:port` or `[ipv6]:port` as a sockaddr_in or sockaddr_in6; `what` names the value in the error. */
export function encodeSockaddr(endpoint: string, what: string): Uint8Array {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(endpoint);
  const address = match ? parseIP(match[1] ?? match[2]) : undefined;
  const port = match ? Number(match[3]) : NaN;
  if (!address || !(port <= 0xffff)) {
    throw new Error(`${what} "${endpoint}" is not ip:port or [ipv6]:port`);
  }
  const bytes = new Uint8Array(address.length === 4 ? SOCKADDR_IN_SIZE : SOCKADDR_IN6_SIZE);
  const data = new DataView(bytes.buffer);
  data.setUint16(0, addressFamily(address), true); // sa_family_t in host order, port in network order
  data.setUint16(2, port, false);
  bytes.set(address, address.length === 4 ? 4 : 8); // sockaddr_in6 has sin6_flowinfo before the address
  return bytes;
}

/** Decodes a sockaddr_in or sockaddr_in6 into `ip:port` or `[ipv6]:port`; undefined for another family. */
export function decodeSockaddr(bytes: Uint8Array): string | undefined {
  if (bytes.length < 2) return undefined;
  const data = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const family = data.getUint16(0, true);
  if (family === AF_INET && bytes.length >= SOCKADDR_IN_SIZE) {
    return `${formatIP(bytes.subarray(4, 8))}:${data.getUint16(2, false)}`;
  }
  if (family === AF_INET6 && bytes.length >= SOCKADDR_IN6_SIZE) {
    return `[${formatIP(bytes.subarray(8, 24))}]:${data.getUint16(2, false)}`;
  }
  return undefined;
}

/**
 * The canonical IPv6 text of a connection's source address, the key machines are looked up by.
 *
 * @module
 */

import { formatIPv6, parseIPv6 } from "../ipv6.ts";

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

/**
 * Canonical IPv6 text (RFC 5952) of an address as a socket reports it: brackets and a zone (`%eth0`) are
 * removed; IPv4 and IPv4-mapped addresses become `::ffff:a.b.c.d` (the RFC's form for mapped addresses).
 * Returns `undefined` for text that is no address.
 *
 * @example
 * ```ts
 * canonicalAddress("FDAE:41E4:649B:9303:0:0:0:1"); // "fdae:41e4:649b:9303::1"
 * canonicalAddress("127.0.0.2"); // "::ffff:127.0.0.2"
 * ```
 */
export function canonicalAddress(text: string): string | undefined {
  let address = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  const v4 = ipv4Bytes(address);
  if (v4) return mapped(v4);
  const lastColon = address.lastIndexOf(":");
  const embedded = lastColon >= 0 ? ipv4Bytes(address.slice(lastColon + 1)) : undefined;
  const bytes = embedded ? parseIPv6(`${address.slice(0, lastColon + 1)}${hexGroups(embedded)}`) : parseIPv6(address);
  if (!bytes) return undefined;
  const isMapped = bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff;
  return isMapped ? mapped(bytes.subarray(12)) : formatIPv6(bytes);
}

function ipv4Bytes(text: string): Uint8Array | undefined {
  const match = IPV4.exec(text);
  if (!match) return undefined;
  const bytes = match.slice(1).map(Number);
  return bytes.every((b) => b <= 255) ? new Uint8Array(bytes) : undefined;
}

function hexGroups(v4: Uint8Array): string {
  return `${((v4[0] << 8) | v4[1]).toString(16)}:${((v4[2] << 8) | v4[3]).toString(16)}`;
}

function mapped(v4: Uint8Array): string {
  return `::ffff:${v4.join(".")}`;
}

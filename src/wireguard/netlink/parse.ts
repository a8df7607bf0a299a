/**
 * Parsing netlink datagrams: messages, attributes (nested or not), and the error/ack and done messages with
 * their extended-ack text. Malformed input gives an error naming what was wrong.
 *
 * @module
 */

import {
  align4,
  NLA_F_NESTED,
  NLA_HDRLEN,
  NLA_TYPE_MASK,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSG_HDRLEN,
  NLMSGERR_ATTR_MSG,
} from "./constants.ts";

/** One netlink message: its header fields and its payload (after the 16-byte header). */
export interface NetlinkMessage {
  /** Message type (NLMSG_ERROR, RTM_NEWLINK, a generic netlink family id, …). */
  type: number;
  /** NLM_F_* flags. */
  flags: number;
  /** Sequence number of the request this answers. */
  sequence: number;
  /** Port id of the socket the message is addressed to. */
  portId: number;
  /** The bytes after the 16-byte header. */
  payload: Uint8Array;
}

/** One attribute: its type (flags masked off), whether it was flagged nested, and its payload. */
export interface Attribute {
  /** Attribute type without the NLA_F_NESTED and NLA_F_NET_BYTEORDER bits. */
  type: number;
  /** Whether NLA_F_NESTED was set. */
  nested: boolean;
  /** The payload, without header or padding. */
  value: Uint8Array;
}

const decoder = new TextDecoder();

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** Splits one received datagram into its messages. */
export function parseMessages(datagram: Uint8Array): NetlinkMessage[] {
  const messages: NetlinkMessage[] = [];
  const data = view(datagram);
  let offset = 0;
  while (offset + NLMSG_HDRLEN <= datagram.length) {
    const length = data.getUint32(offset, true);
    if (length < NLMSG_HDRLEN || offset + length > datagram.length) {
      throw new Error(`malformed netlink message: length ${length} at offset ${offset} of ${datagram.length}`);
    }
    messages.push({
      type: data.getUint16(offset + 4, true),
      flags: data.getUint16(offset + 6, true),
      sequence: data.getUint32(offset + 8, true),
      portId: data.getUint32(offset + 12, true),
      payload: datagram.subarray(offset + NLMSG_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return messages;
}

/** Parses a run of attributes (a message's attribute area or a nest's payload). */
export function parseAttributes(bytes: Uint8Array): Attribute[] {
  const attributes: Attribute[] = [];
  const data = view(bytes);
  let offset = 0;
  while (offset + NLA_HDRLEN <= bytes.length) {
    const length = data.getUint16(offset, true);
    const type = data.getUint16(offset + 2, true);
    if (length < NLA_HDRLEN || offset + length > bytes.length) {
      throw new Error(
        `malformed netlink attribute: type ${type & NLA_TYPE_MASK}, length ${length} at offset ${offset}`,
      );
    }
    attributes.push({
      type: type & NLA_TYPE_MASK,
      nested: (type & NLA_F_NESTED) !== 0,
      value: bytes.subarray(offset + NLA_HDRLEN, offset + length),
    });
    offset += align4(length);
  }
  return attributes;
}

/** Reads fixed-size attribute payloads, checking their length. */
export const read = {
  /** An 8-bit value. */
  u8(value: Uint8Array, what: string): number {
    return view(sized(value, 1, what)).getUint8(0);
  },
  /** A 16-bit value in host byte order. */
  u16(value: Uint8Array, what: string): number {
    return view(sized(value, 2, what)).getUint16(0, true);
  },
  /** A 32-bit value in host byte order. */
  u32(value: Uint8Array, what: string): number {
    return view(sized(value, 4, what)).getUint32(0, true);
  },
  /** A 64-bit value in host byte order, as a number (exact below 2^53). */
  u64(value: Uint8Array, what: string): number {
    return Number(view(sized(value, 8, what)).getBigUint64(0, true));
  },
  /** A string, up to its first NUL. */
  string(value: Uint8Array): string {
    const end = value.indexOf(0);
    return decoder.decode(end < 0 ? value : value.subarray(0, end));
  },
};

function sized(value: Uint8Array, length: number, what: string): Uint8Array {
  if (value.length < length) throw new Error(`netlink attribute ${what} has ${value.length} bytes, expected ${length}`);
  return value;
}

/** The content of an NLMSG_ERROR (ack when `errno` is 0) or NLMSG_DONE message. */
export interface Status {
  /** Positive errno, 0 for success. */
  errno: number;
  /** The extended-ack message text, when the kernel sent one. */
  extAck?: string;
}

/** Parses the payload of an NLMSG_ERROR: `int error; struct nlmsghdr request; [request payload]; [ack TLVs]`. */
export function parseError(message: NetlinkMessage): Status {
  const { payload, flags } = message;
  if (payload.length < 4) throw new Error(`malformed NLMSG_ERROR: ${payload.length} bytes`);
  const data = view(payload);
  const errno = -data.getInt32(0, true);
  if (!(flags & NLM_F_ACK_TLVS) || payload.length < 4 + NLMSG_HDRLEN) return { errno };
  // Without NLM_F_CAPPED the kernel echoes the whole request before the TLVs.
  const echoed = flags & NLM_F_CAPPED ? NLMSG_HDRLEN : align4(data.getUint32(4, true));
  return { errno, extAck: extAckMessage(payload.subarray(Math.min(4 + echoed, payload.length))) };
}

/** Parses the payload of an NLMSG_DONE: an optional `int error`, then ack TLVs when flagged. */
export function parseDone(message: NetlinkMessage): Status {
  const { payload, flags } = message;
  if (payload.length < 4) return { errno: 0 };
  const errno = -view(payload).getInt32(0, true);
  return flags & NLM_F_ACK_TLVS ? { errno, extAck: extAckMessage(payload.subarray(4)) } : { errno };
}

function extAckMessage(tlvs: Uint8Array): string | undefined {
  const text = parseAttributes(tlvs).find((attribute) => attribute.type === NLMSGERR_ATTR_MSG);
  return text ? read.string(text.value) : undefined;
}

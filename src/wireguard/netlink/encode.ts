/**
 * Building netlink messages: a header, a fixed family header, then attributes (type-length-value, each padded to
 * 4 bytes), where every nest carries NLA_F_NESTED.
 *
 * @module
 */

import { align4, NLA_F_NESTED, NLA_HDRLEN, NLMSG_HDRLEN } from "./constants.ts";

const encoder = new TextEncoder();

/** Bytes one attribute takes on the wire with a payload of `payloadLength` bytes, padding included. */
export function attributeSize(payloadLength: number): number {
  return NLA_HDRLEN + align4(payloadLength);
}

/**
 * Writes one netlink message. The sequence number and port id stay 0 until {@linkcode setSequence} stamps the
 * sequence number at send time.
 *
 * @example
 * ```ts
 * const message = new MessageBuilder(RTM_NEWLINK, NLM_F_REQUEST | NLM_F_ACK)
 *   .bytes(new Uint8Array(16))
 *   .string(IFLA_IFNAME, "wg0")
 *   .nest(IFLA_LINKINFO, (b) => b.string(IFLA_INFO_KIND, "wireguard"))
 *   .finish();
 * ```
 */
export class MessageBuilder {
  #buffer: Uint8Array<ArrayBuffer>;
  #view: DataView;
  #length = NLMSG_HDRLEN;

  /** Starts a message of `type` with `flags`; `capacity` is the initial buffer size (it grows as needed). */
  constructor(type: number, flags: number, capacity = 256) {
    this.#buffer = new Uint8Array(Math.max(capacity, NLMSG_HDRLEN));
    this.#view = new DataView(this.#buffer.buffer);
    this.#view.setUint16(4, type, true);
    this.#view.setUint16(6, flags, true);
  }

  /** Bytes written so far, header included: what the message would take if finished now. */
  get length(): number {
    return this.#length;
  }

  /** Appends raw bytes (a family header such as ifinfomsg or genlmsghdr), padded to 4 bytes. */
  bytes(data: Uint8Array): this {
    const start = this.#reserve(align4(data.length));
    this.#buffer.set(data, start);
    return this;
  }

  /** Appends an attribute holding `value` as its payload. */
  binary(type: number, value: Uint8Array): this {
    const start = this.#header(type, value.length);
    this.#buffer.set(value, start + NLA_HDRLEN);
    return this;
  }

  /** Appends a NUL-terminated string attribute. */
  string(type: number, value: string): this {
    const text = encoder.encode(value);
    const start = this.#header(type, text.length + 1);
    this.#buffer.set(text, start + NLA_HDRLEN); // the NUL and padding are already zero
    return this;
  }

  /** Appends an 8-bit attribute. */
  u8(type: number, value: number): this {
    const at = this.#header(type, 1) + NLA_HDRLEN; // first: #header may replace the buffer and its view
    this.#view.setUint8(at, value);
    return this;
  }

  /** Appends a 16-bit attribute in host byte order. */
  u16(type: number, value: number): this {
    const at = this.#header(type, 2) + NLA_HDRLEN;
    this.#view.setUint16(at, value, true);
    return this;
  }

  /** Appends a 32-bit attribute in host byte order. */
  u32(type: number, value: number): this {
    const at = this.#header(type, 4) + NLA_HDRLEN;
    this.#view.setUint32(at, value, true);
    return this;
  }

  /** Appends a nested attribute (flagged NLA_F_NESTED) whose content `fill` writes. */
  nest(type: number, fill: (builder: this) => void): this {
    const start = this.beginNest(type);
    fill(this);
    this.endNest(start);
    return this;
  }

  /** Opens a nested attribute (flagged NLA_F_NESTED); returns the offset {@linkcode endNest} needs. */
  beginNest(type: number): number {
    return this.#header(type | NLA_F_NESTED, 0);
  }

  /** Closes the nested attribute opened at `start`, recording its length. */
  endNest(start: number): void {
    const size = this.#length - start;
    if (size > 0xffff) throw new RangeError(`nested netlink attribute too long (${size} bytes)`);
    this.#view.setUint16(start, size, true);
  }

  /** Returns the finished message (length written into its header). */
  finish(): Uint8Array<ArrayBuffer> {
    this.#view.setUint32(0, this.#length, true);
    return this.#buffer.slice(0, this.#length);
  }

  #header(type: number, payloadLength: number): number {
    const size = NLA_HDRLEN + payloadLength;
    if (size > 0xffff) throw new RangeError(`netlink attribute ${type & 0x3fff} too long (${payloadLength} bytes)`);
    const start = this.#reserve(align4(size));
    this.#view.setUint16(start, size, true);
    this.#view.setUint16(start + 2, type, true);
    return start;
  }

  #reserve(size: number): number {
    const start = this.#length;
    if (start + size > this.#buffer.length) {
      const grown = new Uint8Array(Math.max(this.#buffer.length * 2, start + size));
      grown.set(this.#buffer);
      this.#buffer = grown;
      this.#view = new DataView(grown.buffer);
    }
    this.#length = start + size;
    return start;
  }
}

/** Stamps `sequence` into a finished message's header (in place) and returns the message. */
export function setSequence(message: Uint8Array<ArrayBuffer>, sequence: number): Uint8Array<ArrayBuffer> {
  new DataView(message.buffer, message.byteOffset).setUint32(8, sequence, true);
  return message;
}

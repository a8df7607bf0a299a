/**
 * Generic netlink: the genlmsghdr every generic message carries, and resolving a family's id by name through
 * the controller (CTRL_CMD_GETFAMILY, linux/genetlink.h).
 *
 * @module
 */

import type { NetlinkConnection } from "./connection.ts";
import { NLM_F_ACK, NLM_F_REQUEST } from "./constants.ts";
import { MessageBuilder } from "./encode.ts";
import { Errno, NetlinkError } from "./errors.ts";
import { type NetlinkMessage, parseAttributes, read } from "./parse.ts";

/** Message type (family id) of the generic netlink controller. */
export const GENL_ID_CTRL = 0x10;
/** Size of `struct genlmsghdr { u8 cmd; u8 version; u16 reserved; }`. */
export const GENL_HDRLEN = 4;

const CTRL_CMD_GETFAMILY = 3;
const CTRL_VERSION = 1;
const CTRL_ATTR_FAMILY_ID = 1;
const CTRL_ATTR_FAMILY_NAME = 2;

/** Starts a generic netlink message for `family` with the genlmsghdr of `command` and `version` written. */
export function genlMessage(family: number, flags: number, command: number, version: number): MessageBuilder {
  return new MessageBuilder(family, flags).bytes(new Uint8Array([command, version, 0, 0]));
}

/** The attribute area of a generic netlink message (after its genlmsghdr). */
export function genlAttributes(message: NetlinkMessage): Uint8Array {
  if (message.payload.length < GENL_HDRLEN) {
    throw new Error(`generic netlink message of ${message.payload.length} bytes has no genlmsghdr`);
  }
  return message.payload.subarray(GENL_HDRLEN);
}

/** CTRL_CMD_GETFAMILY asking for the family named `name`. */
export function encodeGetFamily(name: string): Uint8Array<ArrayBuffer> {
  return genlMessage(GENL_ID_CTRL, NLM_F_REQUEST | NLM_F_ACK, CTRL_CMD_GETFAMILY, CTRL_VERSION)
    .string(CTRL_ATTR_FAMILY_NAME, name)
    .finish();
}

/** The family id in the controller's reply to CTRL_CMD_GETFAMILY. */
export function parseFamilyId(messages: NetlinkMessage[]): number {
  for (const message of messages) {
    if (message.type !== GENL_ID_CTRL) continue;
    const id = parseAttributes(genlAttributes(message)).find((a) => a.type === CTRL_ATTR_FAMILY_ID);
    if (id) return read.u16(id.value, "CTRL_ATTR_FAMILY_ID");
  }
  throw new Error("the generic netlink controller's reply has no family id");
}

/**
 * Resolves generic netlink family `name` to its id on a NETLINK_GENERIC connection; undefined when the kernel
 * has no such family (the kernel first tries to load the module that provides it).
 */
export function resolveFamily(connection: NetlinkConnection, name: string): number | undefined {
  try {
    return parseFamilyId(connection.request(encodeGetFamily(name), `resolve generic netlink family ${name}`));
  } catch (error) {
    if (error instanceof NetlinkError && error.errno === Errno.ENOENT) return undefined;
    throw error;
  }
}

/**
 * Constants of the netlink base protocol (linux/netlink.h, linux/socket.h). Netlink headers and attributes are in
 * host byte order; this code assumes a little-endian host (x86-64, arm64), as Deno's Linux builds are.
 *
 * @module
 */

/** Address family of netlink sockets. */
export const AF_NETLINK = 16;
/** IPv4 address family. */
export const AF_INET = 2;
/** IPv6 address family. */
export const AF_INET6 = 10;
/** Unspecified address family (rtnetlink link requests). */
export const AF_UNSPEC = 0;

/** Netlink protocol of rtnetlink (links and addresses). */
export const NETLINK_ROUTE = 0;
/** Netlink protocol of generic netlink (families such as "wireguard"). */
export const NETLINK_GENERIC = 16;

/** Size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;
/** Size of `struct nlattr`. */
export const NLA_HDRLEN = 4;

/** Message types every netlink protocol shares. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;

/** Request flags. */
export const NLM_F_REQUEST = 0x1;
export const NLM_F_MULTI = 0x2;
export const NLM_F_ACK = 0x4;
/** Set by the kernel on a dump message when the dumped state changed while it was being dumped. */
export const NLM_F_DUMP_INTR = 0x10;
export const NLM_F_ROOT = 0x100;
export const NLM_F_MATCH = 0x200;
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;

/** Flags of an NLMSG_ERROR reply: the request was not echoed back; extended-ack attributes follow. */
export const NLM_F_CAPPED = 0x100;
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack attributes (enum nlmsgerr_attrs). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;

/** Attribute type bits. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** Socket options. */
export const SOL_SOCKET = 1;
export const SO_RCVTIMEO = 20;
export const SOL_NETLINK = 270;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;

/** Socket types and receive flags. */
export const SOCK_RAW = 3;
export const SOCK_CLOEXEC = 0o2000000;
export const MSG_PEEK = 0x2;
export const MSG_TRUNC = 0x20;

/** Rounds a length up to the 4-byte alignment of netlink messages and attributes. */
export function align4(length: number): number {
  return (length + 3) & ~3;
}

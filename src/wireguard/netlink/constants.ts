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

/** Message type: nothing, to be skipped. */
export const NLMSG_NOOP = 1;
/** Message type: an error, or with errno 0 an ack. */
export const NLMSG_ERROR = 2;
/** Message type: the end of a dump. */
export const NLMSG_DONE = 3;
/** Message type: data was lost. */
export const NLMSG_OVERRUN = 4;

/** Flag: this is a request. */
export const NLM_F_REQUEST = 0x1;
/** Flag: one part of a multi-part reply. */
export const NLM_F_MULTI = 0x2;
/** Flag: answer with an ack (NLMSG_ERROR with errno 0) on success. */
export const NLM_F_ACK = 0x4;
/** Set by the kernel on a dump message when the dumped state changed while it was being dumped. */
export const NLM_F_DUMP_INTR = 0x10;
/** Get flag: return the whole table. */
export const NLM_F_ROOT = 0x100;
/** Get flag: return all matching entries. */
export const NLM_F_MATCH = 0x200;
/** Get flags of a dump request. */
export const NLM_F_DUMP = NLM_F_ROOT | NLM_F_MATCH;
/** New flag: fail with EEXIST when the object exists. */
export const NLM_F_EXCL = 0x200;
/** New flag: create the object if it does not exist. */
export const NLM_F_CREATE = 0x400;

/** Ack flag: the request was not echoed back. */
export const NLM_F_CAPPED = 0x100;
/** Ack flag: extended-ack attributes follow. */
export const NLM_F_ACK_TLVS = 0x200;

/** Extended-ack attribute: the error message text. */
export const NLMSGERR_ATTR_MSG = 1;

/** Attribute type bit: the payload is nested attributes. */
export const NLA_F_NESTED = 0x8000;
/** Attribute type bit: the payload is in network byte order. */
export const NLA_F_NET_BYTEORDER = 0x4000;
/** Mask of the attribute type without its flag bits. */
export const NLA_TYPE_MASK = ~(NLA_F_NESTED | NLA_F_NET_BYTEORDER) & 0xffff;

/** Socket option level of generic socket options. */
export const SOL_SOCKET = 1;
/** Socket option: receive timeout (struct timeval). */
export const SO_RCVTIMEO = 20;
/** Socket option level of netlink options. */
export const SOL_NETLINK = 270;
/** Netlink option: do not echo the request in error replies. */
export const NETLINK_CAP_ACK = 10;
/** Netlink option: send extended acks (error text). */
export const NETLINK_EXT_ACK = 11;

/** Socket type of netlink sockets. */
export const SOCK_RAW = 3;
/** Socket flag: close on exec. */
export const SOCK_CLOEXEC = 0o2000000;
/** Receive flag: leave the datagram queued. */
export const MSG_PEEK = 0x2;
/** Receive flag: return the datagram's real length even when the buffer is shorter. */
export const MSG_TRUNC = 0x20;

/** Rounds a length up to the 4-byte alignment of netlink messages and attributes. */
export function align4(length: number): number {
  return (length + 3) & ~3;
}

/**
 * Errors of netlink calls: a failed system call or an NLMSG_ERROR from the kernel, named by errno
 * (`EEXIST`, `ENODEV`, …) with the kernel's extended-ack text when it sent one.
 *
 * @module
 */

// Linux errno values (asm-generic/errno-base.h, errno.h) that netlink and socket calls can return.
const ERRNO: Record<number, [string, string]> = {
  1: ["EPERM", "operation not permitted"],
  2: ["ENOENT", "no such file or directory"],
  3: ["ESRCH", "no such process"],
  4: ["EINTR", "interrupted"],
  5: ["EIO", "input/output error"],
  6: ["ENXIO", "no such device or address"],
  7: ["E2BIG", "argument list too long"],
  9: ["EBADF", "bad file descriptor"],
  11: ["EAGAIN", "resource temporarily unavailable"],
  12: ["ENOMEM", "out of memory"],
  13: ["EACCES", "permission denied"],
  14: ["EFAULT", "bad address"],
  16: ["EBUSY", "device or resource busy"],
  17: ["EEXIST", "file exists"],
  19: ["ENODEV", "no such device"],
  22: ["EINVAL", "invalid argument"],
  23: ["ENFILE", "too many open files in system"],
  24: ["EMFILE", "too many open files"],
  28: ["ENOSPC", "no space left on device"],
  34: ["ERANGE", "result out of range"],
  71: ["EPROTO", "protocol error"],
  90: ["EMSGSIZE", "message too long"],
  92: ["ENOPROTOOPT", "protocol not available"],
  93: ["EPROTONOSUPPORT", "protocol not supported"],
  95: ["EOPNOTSUPP", "operation not supported"],
  97: ["EAFNOSUPPORT", "address family not supported"],
  98: ["EADDRINUSE", "address in use"],
  99: ["EADDRNOTAVAIL", "address not available"],
  100: ["ENETDOWN", "network is down"],
  105: ["ENOBUFS", "no buffer space available"],
  110: ["ETIMEDOUT", "timed out"],
  114: ["EALREADY", "operation already in progress"],
};

/** The symbolic name of a (positive) errno value, e.g. `17` → `"EEXIST"`; unknown values read `errno 123`. */
export function errnoName(errno: number): string {
  return ERRNO[errno]?.[0] ?? `errno ${errno}`;
}

/** Numeric errno values the netlink code reacts to. */
export const Errno = {
  ENOENT: 2,
  EINTR: 4,
  EAGAIN: 11,
  EEXIST: 17,
  ENODEV: 19,
  EOPNOTSUPP: 95,
} as const;

/**
 * A netlink operation failed with an errno. The message reads
 * `<operation>: <NAME> (<description>)[: <extended ack>]`; it never contains request bytes (which may hold keys).
 *
 * @example
 * ```ts
 * try { rt.createLink("wg0", "wireguard"); } catch (e) { if (e instanceof NetlinkError && e.code === "EOPNOTSUPP") … }
 * ```
 */
export class NetlinkError extends Error {
  /** Positive errno value. */
  readonly errno: number;
  /** Symbolic errno name, e.g. `EEXIST`. */
  readonly code: string;
  /** The kernel's extended-ack message, when it sent one. */
  readonly extAck?: string;

  /** An error of `operation` with the positive `errno` and the kernel's extended-ack text, if any. */
  constructor(operation: string, errno: number, extAck?: string) {
    const description = ERRNO[errno]?.[1];
    super(
      `${operation}: ${errnoName(errno)}${description ? ` (${description})` : ""}${extAck ? `: ${extAck}` : ""}`,
    );
    this.name = "NetlinkError";
    this.errno = errno;
    this.code = errnoName(errno);
    this.extAck = extAck;
  }
}

/**
 * The few libc socket functions netlink needs, through `Deno.dlopen` on `libc.so.6`.
 *
 * Every call is synchronous (blocking): errno is thread-local, and a synchronous call runs on this thread, so
 * {@linkcode errno} read right after a failing call is that call's errno. (A `nonblocking: true` call runs on
 * another thread, where errno cannot be read back, and a pending one keeps the process alive.) Blocking is
 * harmless here because the kernel answers netlink requests at once and sockets carry a receive timeout.
 *
 * @module
 */

const SYMBOLS = {
  socket: { parameters: ["i32", "i32", "i32"], result: "i32" },
  bind: { parameters: ["i32", "buffer", "u32"], result: "i32" },
  getsockname: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  setsockopt: { parameters: ["i32", "i32", "i32", "buffer", "u32"], result: "i32" },
  sendto: { parameters: ["i32", "buffer", "usize", "i32", "buffer", "u32"], result: "isize" },
  recv: { parameters: ["i32", "buffer", "usize", "i32"], result: "isize" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

/** The bound libc functions; `isize` results (sendto, recv) arrive as bigint. */
export type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

let library: Deno.DynamicLibrary<typeof SYMBOLS> | undefined;

/** Opens libc on first use (needs `--allow-ffi`) and returns its functions. */
export function libc(): Libc {
  library ??= Deno.dlopen("libc.so.6", SYMBOLS);
  return library.symbols;
}

/** The calling thread's errno: read it immediately after the call that failed, before any other FFI call. */
export function errno(): number {
  const location = libc().__errno_location();
  if (location === null) throw new Error("__errno_location returned a null pointer");
  return new Deno.UnsafePointerView(location).getInt32();
}

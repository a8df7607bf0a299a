import { equal, rejects } from "node:assert/strict";
import { bindWhenAvailable } from "./bind_retry.ts";

/** An error shaped as `node:net` reports EADDRNOTAVAIL, wrapped the way the gRPC server wraps it. */
function notAvailable(): Error {
  return new Error("cannot listen for gRPC on [fd00::1]:4002: bind failed", {
    cause: Object.assign(new Error("bind EADDRNOTAVAIL"), { code: "EADDRNOTAVAIL" }),
  });
}

Deno.test("binding is retried while the address is not available, from Deno's API or node:net", async () => {
  let attempts = 0;
  const bound = await bindWhenAvailable("test", () => {
    attempts++;
    if (attempts === 1) throw new Deno.errors.AddrNotAvailable("not yet");
    if (attempts === 2) throw notAvailable();
    return "listener";
  });
  equal(bound, "listener");
  equal(attempts, 3);
});

Deno.test("other bind errors fail at once, and the wait is bounded", async () => {
  let attempts = 0;
  await rejects(
    bindWhenAvailable("test", () => {
      attempts++;
      throw new Deno.errors.AddrInUse("taken");
    }),
    Deno.errors.AddrInUse,
  );
  equal(attempts, 1);
  await rejects(bindWhenAvailable("test", () => Promise.reject(notAvailable()), 300), /EADDRNOTAVAIL|bind failed/);
});

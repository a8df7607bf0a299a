import assert from "node:assert/strict";
import { UserError } from "../errors.ts";
import { daemonCounters } from "./counters.ts";
import { Readiness } from "./readiness.ts";
import { metricsRegistry } from "./registry.ts";
import { startHealthServer } from "./server.ts";

async function get(port: number, path: string, method = "GET"): Promise<[number, string, string | null]> {
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method });
  return [response.status, await response.text(), response.headers.get("content-type")];
}

Deno.test("the listener: /healthz, /readyz as readiness changes, /metrics, and errors for the rest", async () => {
  const readiness = new Readiness({ device: "the WireGuard device is not configured yet" });
  const counters = daemonCounters();
  counters.provisionCalls.add({ code: "OK" });
  const registry = metricsRegistry({ counters });
  const server = startHealthServer("127.0.0.1:0", registry, readiness);
  try {
    assert.deepEqual(await get(server.port, "/healthz"), [200, "ok\n", "text/plain; charset=utf-8"]);
    assert.deepEqual(await get(server.port, "/readyz"), [
      503,
      "device: the WireGuard device is not configured yet\n",
      "text/plain; charset=utf-8",
    ]);
    readiness.met("device");
    assert.deepEqual((await get(server.port, "/readyz")).slice(0, 2), [200, "ready\n"]);
    const [status, body, type] = await get(server.port, "/metrics");
    assert.equal(status, 200);
    assert.equal(type, registry.contentType);
    assert.match(body, /^siderolink_provision_calls_total\{code="OK"\} 1$/m);
    assert.deepEqual((await get(server.port, "/metrics", "HEAD")).slice(0, 2), [200, ""]);
    assert.deepEqual((await get(server.port, "/")).slice(0, 2), [
      404,
      "no such path /; known: /metrics, /healthz, /readyz\n",
    ]);
    assert.deepEqual((await get(server.port, "/healthz", "POST")).slice(0, 2), [
      405,
      "method POST not allowed: use GET\n",
    ]);
  } finally {
    await server.close();
  }
});

Deno.test("an address that cannot be bound is one clear error", () => {
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const listen = `127.0.0.1:${taken.addr.port}`;
  const registry = metricsRegistry({ counters: daemonCounters() });
  assert.throws(
    () => startHealthServer(listen, registry, new Readiness()),
    (error: Error) =>
      error instanceof UserError && error.message.startsWith(`cannot listen for metrics on ${listen}: `),
  );
});

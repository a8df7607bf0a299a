/**
 * Hostile input on the event sink of a real serve running under glibc's malloc checks (a use-after-free aborts
 * it, see tests/grpc_goaway_test.ts). Events come from provisioned machines' own addresses through a forwarding
 * proxy (`hostile_peer.py proxy`), so the sink identifies and stores them; clients are Python grpcio and grpc-js.
 * At the end: serve still provisions and answers `peers`, every acknowledged event is printed once and stored.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FaultServe, faultTestIgnore, type Machine } from "../support/fault_serve.ts";
import { MALLOC_CHECKS, MALLOC_DEBUG_LIBRARY } from "../support/grpc_test_server.ts";

const PUBLISHER = new URL("../support/grpc_js_publisher.mjs", import.meta.url).pathname;

function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Events as `hostile_peer.py publish` reads them, one JSON object per line. */
function eventsFile(events: Record<string, unknown>[]): string {
  return events.map((event) => JSON.stringify(event)).join("\n") + "\n";
}

Deno.test({
  name: "event sink under attack (serve under malloc checks): nothing crashes, every acknowledged event is kept",
  ignore: faultTestIgnore("event sink faults") ||
    Boolean(!exists(MALLOC_DEBUG_LIBRARY) && console.error(`*** SKIPPED: missing ${MALLOC_DEBUG_LIBRARY} ***`)),
}, async (t) => {
  await using fault = await FaultServe.start("events", { env: MALLOC_CHECKS });
  const serve = fault.serve;
  const machines = await fault.addMachines(3);
  const [odd, replayer, closer] = machines;
  // One forwarding proxy per machine: [::1]:port → [server]:4002 from the machine's address.
  const proxies = machines.map((machine, index) =>
    fault.spawnPeer(["proxy", String(4102 + index), fault.server, "4002", machine.address])
  );
  for (const proxy of proxies) {
    const reader = proxy.stdout.getReader();
    ok(new TextDecoder().decode((await reader.read()).value).includes("listening"));
    reader.releaseLock();
  }
  const sinkOf = (machine: Machine) => `[::1]:${4102 + machines.indexOf(machine)}`;
  const publish = async (machine: Machine, events: Record<string, unknown>[]) =>
    await fault.peer<{ codes: Record<string, number>; failures: { event: string; details: string }[] }>(
      ["publish", sinkOf(machine), await fault.file(eventsFile(events))],
    );
  const eventLines = (machine: Machine) =>
    serve.stdout.filter((line) => line.includes('"component":"sink"') && line.includes(machine.uuid))
      .map((line) => JSON.parse(line));

  try {
    await t.step(
      "no data, truncated and undecodable requests, bytes that do not decode as the known type",
      async () => {
        const valid = { id: "cut", type: "AddressEvent", payload: { hostname: "h", addresses: ["10.0.0.1"] } };
        // The request bytes of `valid`, written out: data = Any{type_url, value = AddressEvent}, id = "cut".
        const typeUrl = new TextEncoder().encode("type.googleapis.com/machine.AddressEvent");
        const value = [0x0a, 0x01, 0x68, 0x12, 0x08, ...new TextEncoder().encode("10.0.0.1")];
        const any = [0x0a, typeUrl.length, ...typeUrl, 0x12, value.length, ...value];
        const request = new Uint8Array([0x0a, any.length, ...any, 0x12, 0x03, 0x63, 0x75, 0x74]);
        const result = await publish(odd, [
          { id: "no-data" },
          { raw_hex: request.slice(0, request.length - 20).toHex() },
          { raw_hex: crypto.getRandomValues(new Uint8Array(512)).toHex() },
          { id: "bad-bytes", type_url: "type.googleapis.com/machine.AddressEvent", value_hex: "ffffffffff" },
          { id: "bad-status", type_url: "type.googleapis.com/machine.MachineStatusEvent", value_hex: "08021205ff" },
          { raw_hex: request.toHex() },
          valid,
        ]);
        deepEqual(result.codes, { INVALID_ARGUMENT: 3, OK: 4 });
        deepEqual(result.failures.map((failure) => failure.event), ["no-data", "raw", "raw"]);
        const lines = eventLines(odd);
        deepEqual(lines.map((line) => line.id), ["bad-bytes", "bad-status", "cut"], "the resent id printed once");
        ok(lines[0].handling_error && lines[1].handling_error, "undecodable payloads are marked");
        equal(lines[2].hostname, "h");
      },
    );

    await t.step("100 KB strings", async () => {
      const big = "x".repeat(100_000);
      const result = await publish(odd, [
        { id: "big-host", type: "AddressEvent", payload: { hostname: big, addresses: ["10.0.0.2"] } },
        { id: "big-service", type: "ServiceStateEvent", payload: { service: "etcd", action: "FAILED", message: big } },
        { id: big, type: "MachineStatusEvent", payload: { stage: "RUNNING", status: { ready: true } } },
      ]);
      deepEqual(result.codes, { OK: 3 });
      const lines = eventLines(odd).slice(3);
      deepEqual(lines.map((line) => line.id.length), [8, 11, 100_000]);
      equal(lines[0].hostname, big);
    });

    await t.step("990 events, then the same 990 again (a Talos reconnect): each printed and stored once", async () => {
      const events = Array.from({ length: 990 }, (_, n) => ({
        id: `replay-${String(n).padStart(4, "0")}`,
        type: "SequenceEvent",
        payload: { sequence: "boot", action: n % 2 ? "START" : "STOP" },
      }));
      const result = await publish(replayer, [...events, ...events]);
      deepEqual(result.codes, { OK: 1980 });
      deepEqual(eventLines(replayer).map((line) => line.id), events.map((event) => event.id));
    });

    await t.step("grpc-js: 2,000 calls then close(), twice, on the sink; and on the Provision API", async () => {
      const run = async (target: string, kind: string, prefix: string) => {
        const out = await fault.ns.exec(Deno.execPath(), ["run", "-A", PUBLISHER, target, kind, "2000", "2", prefix]);
        fault.captured.push(out);
        await new Promise((resolve) => setTimeout(resolve, 300));
        await fault.pid(); // still running
        return JSON.parse(out.trim().split("\n").at(-1)!).codes;
      };
      deepEqual(await run(sinkOf(closer), "events", "goaway"), { 0: 4000 });
      deepEqual(await run(fault.api, "provision", "p"), { 7: 4000 }, "PERMISSION_DENIED without a token");
      equal(eventLines(closer).length, 4000);
    });

    await t.step("serve is alive; every acknowledged event is stored", async () => {
      await fault.assertAlive();
      deepEqual(
        fault.storedEventIds(odd.uuid).map((id) => id.length > 20 ? id.length : id).sort(),
        ["bad-bytes", "bad-status", "big-host", "big-service", "cut", 100_000].sort(),
      );
      equal(fault.storedEventIds(replayer.uuid).length, 990);
      const stored = new Set(fault.storedEventIds(closer.uuid));
      equal(stored.size, 4000);
      for (const line of eventLines(closer)) ok(stored.has(line.id));
      fault.assertNoSecrets();
    });
  } finally {
    for (const proxy of proxies) {
      proxy.kill("SIGKILL");
      await proxy.status;
      await Promise.all([proxy.stdout.cancel(), proxy.stderr.cancel()]);
    }
  }
});

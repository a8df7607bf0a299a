import assert from "node:assert/strict";
import { Readiness } from "./readiness.ts";
import { SERVE_CONDITIONS } from "./telemetry.ts";

Deno.test("readiness: not ready while any condition is unmet, each named with its reason", () => {
  const readiness = new Readiness(SERVE_CONDITIONS);
  assert.equal(readiness.ready, false);
  assert.deepEqual(readiness.reasons(), [
    "device: the WireGuard device is not configured yet",
    "listeners: the Provision API, kernel-log, event and control listeners are not all bound yet",
  ]);
  readiness.met("device");
  assert.deepEqual(readiness.reasons(), [`listeners: ${SERVE_CONDITIONS.listeners}`]);
  // Another part of the daemon adds its own condition (Kubernetes mode: the watches).
  readiness.unmet("watches", "the Kubernetes watches have not synced yet");
  readiness.met("listeners");
  assert.equal(readiness.ready, false);
  assert.deepEqual(readiness.reasons(), ["watches: the Kubernetes watches have not synced yet"]);
  readiness.met("watches");
  assert.equal(readiness.ready, true);
  assert.deepEqual(readiness.reasons(), []);
  readiness.met("never-set");
  assert.equal(readiness.ready, true);
  readiness.unmet("stopping", "serve is stopping");
  assert.equal(readiness.ready, false);
});

import assert from "node:assert/strict";
import { UsageError } from "../errors.ts";
import type { TalosEvent } from "./decode.ts";
import { applyConditions, type Condition, conditionUpdates, ExcludedNetworks, filterAddresses } from "./status.ts";

const allTrue = [
  { type: "TalosConfigLoaded", status: "True" },
  { type: "TalosConfigValidated", status: "True" },
  { type: "TalosInstalled", status: "True" },
];

Deno.test("condition rules of PROTOCOL.md §5", () => {
  assert.deepEqual(conditionUpdates({ kind: "ConfigLoadErrorEvent", error: "no config" }), [
    {
      type: "TalosConfigLoaded",
      status: "False",
      severity: "Error",
      reason: "TalosConfigLoadFailed",
      message: "no config",
    },
  ]);
  assert.deepEqual(conditionUpdates({ kind: "ConfigValidationErrorEvent", error: "bad" }), [
    {
      type: "TalosConfigValidated",
      status: "False",
      severity: "Error",
      reason: "TalosConfigValidationFailed",
      message: "bad",
    },
  ]);
  assert.deepEqual(conditionUpdates({ kind: "PhaseEvent", phase: "install", action: "START" }), [
    { type: "TalosInstalled", status: "False", severity: "Info", reason: "TalosInstallationInProgress" },
  ]);
  assert.deepEqual(conditionUpdates({ kind: "PhaseEvent", phase: "saveConfig", action: "START" }), [
    { type: "TalosConfigValidated", status: "True" },
    { type: "TalosConfigLoaded", status: "True" },
  ]);
  assert.deepEqual(conditionUpdates({ kind: "SequenceEvent", sequence: "boot", action: "START" }), allTrue);
  const install = (code: string, message: string) =>
    conditionUpdates({ kind: "SequenceEvent", sequence: "install", action: "NOOP", error: { code, message } });
  assert.deepEqual(install("FATAL", "failed to reboot: unix.Reboot: interrupted"), [
    { type: "TalosInstalled", status: "True" },
  ]);
  assert.deepEqual(install("FATAL", "disk not found"), [
    {
      type: "TalosInstalled",
      status: "False",
      severity: "Error",
      reason: "TalosInstallationFailed",
      message: "disk not found",
    },
  ]);
});

Deno.test("events the rules do not name change no condition", () => {
  for (
    const event of [
      { kind: "PhaseEvent", phase: "install", action: "STOP" },
      { kind: "PhaseEvent", phase: "boot", action: "START" },
      { kind: "SequenceEvent", sequence: "boot", action: "STOP" },
      { kind: "SequenceEvent", sequence: "install", action: "NOOP" },
      { kind: "SequenceEvent", sequence: "install", action: "NOOP", error: { code: "LOCKED", message: "x" } },
      { kind: "SequenceEvent", sequence: "install", action: "STOP", error: { code: "FATAL", message: "x" } },
      { kind: "TaskEvent", task: "install", action: "START" },
      { kind: "MachineStatusEvent", stage: "RUNNING", ready: true },
      { kind: "AddressEvent", hostname: "h", addresses: [] },
      { kind: "ServiceStateEvent", service: "s", action: "RUNNING", message: "" },
      { kind: "RestartEvent", cmd: "1" },
    ] satisfies TalosEvent[]
  ) {
    assert.deepEqual(conditionUpdates(event), [], JSON.stringify(event));
  }
});

Deno.test("lastTransitionTime moves only when the status flips", () => {
  const t1 = new Date("2026-03-02T08:00:00.250Z");
  const t2 = new Date("2026-03-02T08:05:00Z");
  const t3 = new Date("2026-03-02T08:09:00Z");
  const installing = conditionUpdates({ kind: "PhaseEvent", phase: "install", action: "START" });
  const step1 = applyConditions([], installing, t1);
  assert.deepEqual(step1, [{
    type: "TalosInstalled",
    status: "False",
    severity: "Info",
    reason: "TalosInstallationInProgress",
    lastTransitionTime: "2026-03-02T08:00:00Z",
  }]);
  // Still False, new reason: the time stays, reason/severity/message follow the update.
  const failed = conditionUpdates({
    kind: "SequenceEvent",
    sequence: "install",
    action: "NOOP",
    error: { code: "FATAL", message: "disk not found" },
  });
  const step2 = applyConditions(step1, failed, t2);
  assert.deepEqual(step2, [{
    type: "TalosInstalled",
    status: "False",
    severity: "Error",
    reason: "TalosInstallationFailed",
    message: "disk not found",
    lastTransitionTime: "2026-03-02T08:00:00Z",
  }]);
  // Boot: TalosInstalled flips (new time, no reason left); the two new ones get the time too, all ordered by type.
  const step3 = applyConditions(
    step2,
    conditionUpdates({ kind: "SequenceEvent", sequence: "boot", action: "START" }),
    t3,
  );
  assert.deepEqual(step3, allTrue.map((condition) => ({ ...condition, lastTransitionTime: "2026-03-02T08:09:00Z" })));
  // Boot again later: nothing flips, nothing moves.
  const step4 = applyConditions(
    step3,
    conditionUpdates({ kind: "SequenceEvent", sequence: "boot", action: "START" }),
    t3,
  );
  assert.deepEqual(step4, step3);
  const untouched: Condition[] = applyConditions(step3, [], new Date("2030-01-01T00:00:00Z"));
  assert.deepEqual(untouched, step3);
});

Deno.test("excluded networks: IPv4 and IPv6, bad entries named", () => {
  const excluded = new ExcludedNetworks(["10.5.0.0/24", "fd00::/8", "192.0.2.7/32"]);
  assert.equal(excluded.contains("10.5.0.200"), true);
  assert.equal(excluded.contains("10.5.1.1"), false);
  assert.equal(excluded.contains("fdae:41e4:649b:9303::2"), true);
  assert.equal(excluded.contains("2001:db8::1"), false);
  assert.equal(excluded.contains("192.0.2.7"), true);
  assert.equal(excluded.contains("::ffff:10.5.0.9"), true);
  assert.equal(excluded.contains("not an address"), false);
  for (const bad of ["10.5.0.0", "10.5.0.0/33", "fd00::/129", "10.5.0.0/24/1", "host/24", "10.5.0.0/x", ""]) {
    assert.throws(
      () => new ExcludedNetworks([bad]),
      (error: Error) => error instanceof UsageError && error.message.includes(`"${bad}"`),
      bad,
    );
  }
});

Deno.test("addresses lose the machine's own SideroLink address and excluded networks, in any spelling", () => {
  const own = "fdae:41e4:649b:9303:0:0:0:2";
  const excluded = new ExcludedNetworks(["10.5.0.0/24"]);
  assert.deepEqual(
    filterAddresses(
      [
        "10.5.0.2",
        "192.168.1.20",
        "FDAE:41E4:649B:9303::2",
        "fdae:41e4:649b:9303::2/64",
        "2001:db8::5",
        "10.5.0.3/24",
        "?",
      ],
      own,
      excluded,
    ),
    ["192.168.1.20", "2001:db8::5", "?"],
  );
  assert.deepEqual(filterAddresses(["10.5.0.2"], own, new ExcludedNetworks([])), ["10.5.0.2"]);
});

import { deepEqual, equal } from "node:assert/strict";
import { SqliteState } from "../state/sqlite.ts";
import { MachineStore } from "./store.ts";

const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const AT = new Date("2026-11-26T10:00:00Z");
const LATER = new Date("2026-11-26T11:00:00Z");

Deno.test("a provision creates the record, a second one updates key, token, version and last time only", () => {
  using state = SqliteState.open(Deno.makeTempDirSync(), "create");
  const machines = new MachineStore(state);
  machines.recordProvision({ uuid: UUID, address: "fd00::a", publicKey: "key-1", talosVersion: "v1.8" }, {
    serverUuid: UUID,
    cluster: "prod",
  }, AT);
  const stored = machines.recordProvision(
    { uuid: UUID, address: "fd00::ignored", publicKey: "key-2", nodeUniqueToken: "t" },
    undefined,
    LATER,
  );
  deepEqual(machines.get(UUID), {
    uuid: UUID,
    address: "fd00::a",
    publicKey: "key-2",
    nodeUniqueToken: "t",
    firstProvisionedAt: AT.toISOString(),
    lastProvisionedAt: LATER.toISOString(),
  });
  deepEqual(stored, machines.get(UUID), "it returns the record as stored");
  deepEqual(machines.list().map((record) => record.uuid), [UUID]);
});

Deno.test("peer GC clears a key only if the machine has not provisioned again meanwhile", () => {
  using state = SqliteState.open(Deno.makeTempDirSync(), "create");
  const machines = new MachineStore(state);
  machines.recordProvision({ uuid: UUID, address: "fd00::a", publicKey: "key-2" }, undefined, AT);
  equal(machines.clearPublicKey(UUID, "key-1"), undefined, "nothing changed");
  equal(machines.get(UUID)?.publicKey, "key-2", "a newer key stays");
  deepEqual(machines.clearPublicKey(UUID, "key-2"), machines.get(UUID));
  equal(machines.get(UUID)?.publicKey, undefined);
  equal(machines.get(UUID)?.address, "fd00::a", "the address stays reserved");
});

import { deepEqual, equal, throws } from "node:assert/strict";
import { join } from "node:path";
import { parseInventory, watchInventory } from "./inventory.ts";
import type { Inventory } from "./inventory.ts";

const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";

Deno.test("an inventory lists machines by lowercase UUID with their names", () => {
  const inventory = parseInventory(
    `- uuid: ${UUID.toUpperCase()}\n  namespace: default\n  cluster: prod\n  metalMachine: prod-cp-x7k2p\n  machine: prod-cp-1\n` +
      "- uuid: 00000000-0000-0000-0000-000000000001\n",
    "inv.yaml",
  );
  deepEqual([...inventory.values()], [
    { serverUuid: UUID, namespace: "default", cluster: "prod", metalMachine: "prod-cp-x7k2p", machine: "prod-cp-1" },
    { serverUuid: "00000000-0000-0000-0000-000000000001" },
  ]);
  equal(parseInventory("", "empty.yaml").size, 0);
  equal(parseInventory(`[{"uuid": "${UUID}", "cluster": "c"}]`, "inv.json").get(UUID)?.cluster, "c");
});

Deno.test("inventory problems name the entry and the key", () => {
  const cases: [string, RegExp][] = [
    ["uuid: x", /inv.yaml: want a list of machines/],
    ["- 42", /entry 1: want a mapping/],
    [`- uuid: ${UUID}\n  clutser: prod`, /entry 1: unknown key "clutser"/],
    ["- cluster: prod", /entry 1: uuid is missing/],
    [`- uuid: ${UUID}\n- uuid: nope`, /entry 2: malformed server UUID "nope"/],
    [`- uuid: ${UUID}\n- uuid: ${UUID}`, /entry 2: uuid .* is listed twice/],
    [`- uuid: ${UUID}\n  cluster: 7`, /entry 1: cluster must be non-empty text/],
    ["- [unclosed", /inv.yaml: not YAML or JSON/],
  ];
  for (const [text, message] of cases) throws(() => parseInventory(text, "inv.yaml"), message);
});

Deno.test("a changed inventory file is reloaded; an invalid one is reported and ignored", async () => {
  const path = join(Deno.makeTempDirSync(), "inventory.yaml");
  Deno.writeTextFileSync(path, `- uuid: ${UUID}\n  cluster: a\n`);
  const changes: Inventory[] = [];
  const errors: Error[] = [];
  let wake = () => {};
  const stop = watchInventory(path, (inventory) => {
    changes.push(inventory);
    wake();
  }, (error) => {
    errors.push(error);
    wake();
  });
  try {
    const next = () => new Promise<void>((resolve) => (wake = resolve));
    let event = next();
    // Replace the file the way editors do: write a temporary file, then rename it over the old one.
    Deno.writeTextFileSync(`${path}.tmp`, `- uuid: ${UUID}\n  cluster: b\n`);
    Deno.renameSync(`${path}.tmp`, path);
    await event;
    equal(changes.at(-1)?.get(UUID)?.cluster, "b");
    event = next();
    Deno.writeTextFileSync(path, "- uuid: broken\n");
    await event;
    equal(errors.length, 1);
    equal(changes.length, 1);
  } finally {
    stop();
  }
});

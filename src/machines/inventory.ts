/**
 * The inventory: a YAML (or JSON) list of the machines the operator knows, with the names that annotate their
 * logs and events. `--accept known` admits only these machines to provisioning.
 *
 * ```yaml
 * - uuid: 0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f
 *   namespace: default
 *   cluster: prod
 *   metalMachine: prod-cp-x7k2p
 *   machine: prod-cp-1
 * ```
 *
 * @module
 */

import { parse } from "yaml";
import { canonicalUuid } from "../addressing.ts";
import { UserError } from "../errors.ts";
import type { MachineIdentity } from "./identity.ts";

/** The inventory's machines by lowercase UUID. */
export type Inventory = ReadonlyMap<string, MachineIdentity>;

const NAME_KEYS = ["namespace", "cluster", "metalMachine", "machine"] as const;

/**
 * Parses inventory text, naming the entry and key of the first problem.
 *
 * @example
 * ```ts
 * parseInventory("- uuid: 0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f\n  cluster: prod\n", "inventory.yaml");
 * ```
 */
export function parseInventory(text: string, source: string): Inventory {
  let document: unknown;
  try {
    document = parse(text);
  } catch (error) {
    throw new UserError(`inventory ${source}: not YAML or JSON: ${(error as Error).message.split("\n")[0]}`);
  }
  if (document === null || document === undefined) return new Map();
  if (!Array.isArray(document)) throw new UserError(`inventory ${source}: want a list of machines`);
  const machines = new Map<string, MachineIdentity>();
  document.forEach((entry: unknown, index) => {
    const where = `inventory ${source}: entry ${index + 1}`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      throw new UserError(`${where}: want a mapping with uuid and names`);
    }
    const fields = entry as Record<string, unknown>;
    for (const key of Object.keys(fields)) {
      if (key !== "uuid" && !(NAME_KEYS as readonly string[]).includes(key)) {
        throw new UserError(`${where}: unknown key ${JSON.stringify(key)} (want uuid, ${NAME_KEYS.join(", ")})`);
      }
    }
    if (typeof fields.uuid !== "string") throw new UserError(`${where}: uuid is missing`);
    let serverUuid: string;
    try {
      serverUuid = canonicalUuid(fields.uuid);
    } catch (error) {
      throw new UserError(`${where}: ${(error as Error).message}`);
    }
    if (machines.has(serverUuid)) throw new UserError(`${where}: uuid ${serverUuid} is listed twice`);
    const identity: MachineIdentity = { serverUuid };
    for (const key of NAME_KEYS) {
      const value = fields[key];
      if (value === undefined || value === null) continue;
      if (typeof value !== "string" || value === "") throw new UserError(`${where}: ${key} must be non-empty text`);
      identity[key] = value;
    }
    machines.set(serverUuid, identity);
  });
  return machines;
}

/** Reads and parses an inventory file. */
export async function loadInventory(path: string): Promise<Inventory> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    throw new UserError(`cannot read inventory ${path}: ${(error as Error).message}`);
  }
  return parseInventory(text, path);
}

/**
 * Calls `onChange` with the new inventory whenever the file changes (editors often replace the file, so
 * the folder is watched), and `onError` when the new text is invalid: the previous inventory then stays.
 * Returns a function that stops watching.
 */
export function watchInventory(
  path: string,
  onChange: (inventory: Inventory) => void,
  onError: (error: Error) => void,
): () => void {
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) || "/" : ".";
  const name = path.slice(path.lastIndexOf("/") + 1);
  const watcher = Deno.watchFs(folder, { recursive: false });
  let timer: ReturnType<typeof setTimeout> | undefined;
  (async () => {
    for await (const event of watcher) {
      if (!event.paths.some((changed) => changed.endsWith(`/${name}`))) continue;
      // Saves arrive as bursts of events: reload once the burst is over.
      clearTimeout(timer);
      timer = setTimeout(() => loadInventory(path).then(onChange, onError), 100);
    }
  })().catch(onError);
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}

/**
 * Where this daemon's installation and machines live: the embedded default (the state database and an inventory
 * file) or Kubernetes (the `siderolink` Secret, ServerBindings and MetalMachines). Everything after start-up talks
 * to the {@linkcode MachineDirectory} and does not ask which.
 *
 * @module
 */

import { loadInventory } from "../machines/inventory.ts";
import type { MachineDirectory } from "../machines/directory.ts";
import { EmbeddedDirectory } from "../machines/embedded.ts";
import type { Telemetry } from "../metrics/telemetry.ts";
import type { SqliteState } from "../state/sqlite.ts";
import type { Installation } from "../state/types.ts";
import { chooseJoinToken, type ServeConfig } from "./config.ts";

/** An open home. */
export interface Home {
  installation: Installation;
  /** The token machines must present; none when undefined. */
  joinToken?: string;
  directory: MachineDirectory;
  /** What the start-up line says about it. */
  home: Record<string, unknown>;
}

/**
 * Opens the home `config` names. The Kubernetes code is loaded only in Kubernetes mode, so the embedded default
 * does not pay for it at start-up.
 */
export async function openHome(config: ServeConfig, state: SqliteState, telemetry: Telemetry): Promise<Home> {
  if (config.kubernetes) {
    const { openKubernetesHome } = await import("../kubernetes/home.ts");
    return await openKubernetesHome(config, config.kubernetes, state, telemetry);
  }
  const inventory = config.inventory ? await loadInventory(config.inventory) : new Map();
  const installation = state.installation();
  const joinToken = chooseJoinToken(config, installation.joinToken);
  if (joinToken !== installation.joinToken) state.setJoinToken(joinToken);
  return {
    installation,
    joinToken,
    directory: new EmbeddedDirectory({ state, inventory, inventoryPath: config.inventory, accept: config.accept }),
    home: { kind: "embedded", accept: config.accept, ...(config.inventory && { inventory: config.inventory }) },
  };
}

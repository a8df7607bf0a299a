/**
 * Kubernetes mode's home: the connection, the installation Secret and the ServerBinding directory, opened in that
 * order at start-up. Loaded only when `serve --kubernetes` runs.
 *
 * @module
 */

import { chooseJoinToken, type KubernetesSettings, type ServeConfig } from "../serve/config.ts";
import type { Home } from "../serve/home.ts";
import type { Telemetry } from "../metrics/telemetry.ts";
import type { SqliteState } from "../state/sqlite.ts";
import { KubeClient } from "./client.ts";
import { resolveConnection } from "./connection.ts";
import { KubernetesDirectory } from "./directory.ts";
import { loadInstallation, SECRET_NAME, startupError } from "./installation.ts";

/**
 * Connects, loads (or creates) the installation and lists the machines; throws one clear line on failure. API
 * requests and watch restarts are counted for the metrics, and readiness waits for the first lists.
 */
export async function openKubernetesHome(
  config: ServeConfig,
  settings: KubernetesSettings,
  state: SqliteState,
  telemetry: Telemetry,
): Promise<Home> {
  const client = new KubeClient(resolveConnection(settings.kubeconfig, Deno.env.toObject()));
  const { kubernetesApiRequests, kubernetesWatchRestarts } = telemetry.counters;
  client.observe((verb, _resource, status) => kubernetesApiRequests.add({ verb, code: String(status) }));
  telemetry.readiness.unmet("watches", "the ServerBinding and MetalMachine watches have not synced yet");
  try {
    const installation = await loadInstallation(client, settings.secretNamespace);
    let directory: KubernetesDirectory;
    try {
      directory = await KubernetesDirectory.start({
        client,
        state,
        onWatchRestart: (resource) => kubernetesWatchRestarts.add({ resource }),
      });
      telemetry.readiness.met("watches");
    } catch (error) {
      throw startupError(error);
    }
    return {
      installation,
      // Sidero's kernel arguments carry no join token: a ServerBinding's existence is the authorization.
      joinToken: chooseJoinToken(config, undefined, false),
      directory,
      home: {
        kind: "kubernetes",
        apiserver: client.connection.server,
        from: client.connection.source,
        secret: `${settings.secretNamespace}/${SECRET_NAME}`,
      },
    };
  } catch (error) {
    client.close();
    throw error;
  }
}

/**
 * Loads (or creates) the installation Secret once, as `serve --kubernetes` does at start-up, and prints the
 * installation ID: tests start several at once to prove they end with one installation.
 *
 * Usage: deno run -A tests/support/kube_installation.ts KUBECONFIG NAMESPACE
 */
import { KubeClient } from "../../src/kubernetes/client.ts";
import { resolveConnection } from "../../src/kubernetes/connection.ts";
import { loadInstallation } from "../../src/kubernetes/installation.ts";

const [kubeconfig, namespace] = Deno.args;
const client = new KubeClient(resolveConnection(kubeconfig, {}));
try {
  console.log((await loadInstallation(client, namespace)).installationId);
} finally {
  client.close();
}

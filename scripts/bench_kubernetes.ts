/**
 * Benchmark of Kubernetes mode at fleet size, next to the embedded default in the same run: a real etcd and
 * kube-apiserver (tests/support/kube_apiserver.ts) in a test namespace holding N ServerBindings; serve's start-up
 * to "serving" (with the list of every binding) and its memory, then N provisions through the Provision API from
 * Python grpcio (each one a GET and a conditional PATCH of its binding). Baselines: serve's start-up with no
 * machines in each home, and provisioning N machines in the embedded home.
 *
 * Run (root): `deno run -A scripts/bench_kubernetes.ts [machines]`
 *
 * @module
 */

import { join } from "node:path";
import { KubeApiserver } from "../tests/support/kube_apiserver.ts";
import { NetNs } from "../tests/support/netns.ts";
import { ServeProcess } from "../tests/support/serve_process.ts";
import { rssMiB, settledRss } from "./bench_memory.ts";

const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("../tests/support/talos_node.py", import.meta.url).pathname;
const DEPLOY = new URL("../deploy/kubernetes/", import.meta.url).pathname;
const ADDRESS = "fd5e:4::1";
const API = `[${ADDRESS}]:8081`;

/** Runs the benchmark and prints its figures. */
export async function benchKubernetes(machines = 10_000): Promise<void> {
  const work = await Deno.makeTempDir({ prefix: "siderolink-kbench-" });
  await using ns = await NetNs.create("kbench");
  await ns.exec("ip", ["-6", "addr", "add", `${ADDRESS}/64`, "dev", "lo", "nodad"]);
  await using kube = await KubeApiserver.start(ns);
  await kube.kubectl(["apply", "-f", join(DEPLOY, "00-namespace.yaml"), "-f", join(DEPLOY, "10-rbac.yaml")]);
  let run = 0;
  const start = async (home: string[]) => {
    const args = [
      ...home,
      "--state-dir",
      join(work, `state-${run}`),
      "--wireguard-endpoint",
      `[${ADDRESS}]:51821`,
      "--wireguard-backend",
      "userspace",
      "--interface",
      `slkb${run++}`,
      "--api-listen",
      API,
      "--control-socket",
      join(work, "control.sock"),
      "--cleanup-on-exit",
    ];
    const began = performance.now();
    const serve = await ServeProcess.start(args, { ns });
    return { serve, ms: performance.now() - began, rss: rssMiB(serve.pid) };
  };
  const kubernetes = ["--kubernetes", "--kubeconfig", kube.serviceAccountKubeconfig];
  const embedded = ["--no-join-token"];
  const provisionMany = async (uuidFile?: string) =>
    JSON.parse(
      await ns.exec(PYTHON, [
        NODE_SCRIPT,
        "provision-many",
        API,
        String(machines),
        "8",
        "-",
        ...(uuidFile ? [uuidFile] : []),
      ]),
    ) as { count: number; seconds: number; errors: Record<string, number> };
  try {
    // Baselines: both homes with no machines, and the embedded home provisioning the same number.
    const emptyEmbedded = await start(embedded);
    const embeddedProvision = await provisionMany();
    const embeddedRss = rssMiB(emptyEmbedded.serve.pid);
    await emptyEmbedded.serve.stop();
    const emptyKube = await start(kubernetes);
    await emptyKube.serve.stop();

    // N ServerBindings, as Sidero makes them when it binds servers to MetalMachines.
    const uuids = Array.from({ length: machines }, () => crypto.randomUUID());
    const uuidFile = join(work, "uuids.txt");
    await Deno.writeTextFile(uuidFile, uuids.join("\n") + "\n");
    const created = performance.now();
    for (let offset = 0; offset < uuids.length; offset += 1000) {
      const items = uuids.slice(offset, offset + 1000).map((uuid, index) => ({
        apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
        kind: "ServerBinding",
        metadata: { name: uuid, labels: { "cluster.x-k8s.io/cluster-name": "bench" } },
        spec: { metalMachineRef: { kind: "MetalMachine", namespace: "default", name: `bench-${offset + index}` } },
      }));
      await kube.kubectl(["create", "-f", "-"], { stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items }) });
    }
    const createdSeconds = (performance.now() - created) / 1000;

    const full = await start(kubernetes);
    const listLine = full.serve.stderr.find((line) => line.includes("listed"));
    const listMs = listLine ? JSON.parse(listLine).properties.ms : NaN;
    const provisioned = await provisionMany(uuidFile);
    const afterRss = rssMiB(full.serve.pid);
    const settled = await settledRss(full.serve.pid);
    await full.serve.stop();
    const restarted = await start(kubernetes);
    const reconciled = restarted.serve.stderr.find((line) => line.includes("peers reconciled"));
    await restarted.serve.stop();

    const rate = (result: { count: number; seconds: number }) => result.count / result.seconds;
    console.log(`(${machines} ServerBindings created with kubectl in ${createdSeconds.toFixed(1)} s)`);
    console.log(
      `start-up to serving: embedded, no machines ${emptyEmbedded.ms.toFixed(0)} ms; kubernetes, no bindings ` +
        `${emptyKube.ms.toFixed(0)} ms; kubernetes, ${machines} bindings ${full.ms.toFixed(0)} ms ` +
        `(the list ${listMs} ms), and ${restarted.ms.toFixed(0)} ms again with every link set (peers added: ` +
        `${reconciled ? JSON.parse(reconciled).message : "?"})`,
    );
    const perBinding = (mib: number) => ((mib - emptyKube.rss) * 1024 * 1024 / machines).toFixed(0);
    console.log(
      `serve memory: embedded ${emptyEmbedded.rss.toFixed(0)} MiB at start, ${embeddedRss.toFixed(0)} MiB after ` +
        `${machines} provisions; kubernetes ${emptyKube.rss.toFixed(0)} MiB with no bindings, ` +
        `${full.rss.toFixed(0)} MiB with ${machines} (${perBinding(full.rss)} bytes per binding), ` +
        `${afterRss.toFixed(0)} MiB right after provisioning them all, ${settled.mib.toFixed(0)} MiB once idle ` +
        `(${perBinding(settled.mib)} bytes per binding; ${settled.how})`,
    );
    console.log(
      `provision: kubernetes ${rate(provisioned).toFixed(0)}/s (errors: ${JSON.stringify(provisioned.errors)}); ` +
        `baseline embedded ${rate(embeddedProvision).toFixed(0)}/s (errors: ${
          JSON.stringify(embeddedProvision.errors)
        }); ` +
        `ratio ${(rate(provisioned) / rate(embeddedProvision)).toFixed(2)}`,
    );
  } finally {
    await Deno.remove(work, { recursive: true });
  }
}

if (import.meta.main) await benchKubernetes(Number(Deno.args[0] ?? 10_000));

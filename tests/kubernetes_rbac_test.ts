/**
 * Kubernetes mode's start-up against a real apiserver with RBAC on: the project's manifests grant enough (the
 * end-to-end test runs on them) and each missing permission ends serve with one line naming the verb and the
 * resource; two servers creating the installation at once end with one; a malformed Secret is named, not replaced.
 */
import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { KUBE_TOOLS_REQUIREMENT, KubeApiserver } from "./support/kube_apiserver.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";

const DEPLOY = new URL("../deploy/kubernetes/", import.meta.url).pathname;
const LOADER = new URL("./support/kube_installation.ts", import.meta.url).pathname;
const ignore = skipUnless(
  "serve --kubernetes start-up and RBAC",
  [isRoot(), "root (network namespaces)"],
  KUBE_TOOLS_REQUIREMENT,
);

/** The RBAC manifests as objects, to apply with one rule taken out. */
// deno-lint-ignore no-explicit-any
async function rbacObjects(): Promise<Record<string, any>[]> {
  return parseAllDocuments(await Deno.readTextFile(join(DEPLOY, "10-rbac.yaml"))).map((doc) => doc.toJSON());
}

/** Starts serve in Kubernetes mode as the ServiceAccount and returns its stderr once it has exited. */
async function failedStart(kube: KubeApiserver, ns: NetNs, work: string): Promise<string> {
  try {
    const serve = await ServeProcess.start([
      "--kubernetes",
      "--kubeconfig",
      kube.serviceAccountKubeconfig,
      "--state-dir",
      join(work, "state"),
      "--wireguard-endpoint",
      "127.0.0.1:51821",
      "--control-socket",
      join(work, "control.sock"),
    ], { ns });
    await serve.stop("SIGKILL");
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("serve started, but it should have refused");
}

Deno.test({ name: "serve --kubernetes: RBAC, the installation Secret and its races", ignore }, async (t) => {
  await using ns = await NetNs.create("krbac");
  await using kube = await KubeApiserver.start(ns);
  const work = await Deno.makeTempDir({ prefix: "siderolink-rbac-" });
  try {
    await kube.kubectl(["apply", "-f", join(DEPLOY, "00-namespace.yaml")]);
    const objects = await rbacObjects();
    const apply = (items: unknown[]) =>
      kube.kubectl(["apply", "-f", "-"], { stdin: JSON.stringify({ apiVersion: "v1", kind: "List", items }) });

    await t.step("a missing permission is one line naming the verb and the resource", async () => {
      const withoutSecretGet = structuredClone(objects);
      const role = withoutSecretGet.find((object) => object.kind === "Role")!;
      role.rules = role.rules.filter((rule: { verbs: string[] }) => !rule.verbs.includes("get"));
      await apply(withoutSecretGet);
      match(
        await failedStart(kube, ns, work),
        /siderolink: Kubernetes API: get secrets default\/siderolink: 403 Forbidden: .*cannot get resource "secrets"/,
      );

      const withoutMetalMachines = structuredClone(objects);
      const clusterRole = withoutMetalMachines.find((object) => object.kind === "ClusterRole")!;
      clusterRole.rules = clusterRole.rules.filter((rule: { resources: string[] }) =>
        !rule.resources.includes("metalmachines")
      );
      await apply(withoutMetalMachines);
      const stderr = await failedStart(kube, ns, work);
      match(
        stderr,
        /siderolink: Kubernetes API: list metalmachines: 403 Forbidden: .*cannot list resource "metalmachines"/,
      );
      ok(!stderr.includes("    at "), "no stack trace");
    });

    await t.step("two servers creating the installation at once end with one", async () => {
      await apply(objects);
      await kube.kubectl(["-n", "default", "delete", "secret", "siderolink", "--ignore-not-found"]);
      const load = () =>
        ns.exec(Deno.execPath(), ["run", "--allow-all", "--frozen", LOADER, kube.serviceAccountKubeconfig, "default"]);
      const ids = (await Promise.all([load(), load(), load()])).map((id) => id.trim());
      equal(new Set(ids).size, 1, ids.join(", "));
      const stored = JSON.parse(await kube.kubectl(["-n", "default", "get", "secret", "siderolink", "-o", "json"]));
      equal(new TextDecoder().decode(Uint8Array.fromBase64(stored.data["installation-id"])), ids[0]);
    });

    await t.step("a Secret with a malformed key is named and left as it is", async () => {
      await kube.kubectl(["-n", "default", "delete", "secret", "siderolink"]);
      await kube.kubectl([
        "-n",
        "default",
        "create",
        "secret",
        "generic",
        "siderolink",
        "--from-literal=installation-id=abc",
        "--from-literal=private-key=c2hvcnQ=",
      ]);
      match(
        await failedStart(kube, ns, work),
        /siderolink: Secret default\/siderolink: key private-key is 5 bytes, want 32/,
      );
      const kept = JSON.parse(await kube.kubectl(["-n", "default", "get", "secret", "siderolink", "-o", "json"]));
      equal(new TextDecoder().decode(Uint8Array.fromBase64(kept.data["private-key"])), "c2hvcnQ=");
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

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
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";

async function newKey(): Promise<string> {
  return formatKey(await publicKeyOf(generatePrivateKey()));
}

const DEPLOY = new URL("../deploy/kubernetes/", import.meta.url).pathname;
const CLI = new URL("../cli.ts", import.meta.url).pathname;
const PYTHON = "/usr/bin/python3";
const NODE_SCRIPT = new URL("./support/talos_node.py", import.meta.url).pathname;
const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
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

    await t.step("a kubeconfig with a client certificate and a CA file, as kubectl reads it", async () => {
      const config = join(work, "client-cert.kubeconfig");
      await Deno.writeTextFile(
        config,
        JSON.stringify({
          apiVersion: "v1",
          kind: "Config",
          "current-context": "admin",
          contexts: [{ name: "admin", context: { cluster: "test", user: "admin" } }],
          clusters: [{ name: "test", cluster: { server: kube.url, "certificate-authority": kube.caFile } }],
          users: [{
            name: "admin",
            user: { "client-certificate": kube.adminClientCertFile, "client-key": kube.adminClientKeyFile },
          }],
        }),
      );
      const id = (await ns.exec(Deno.execPath(), ["run", "--allow-all", "--frozen", LOADER, config, "default"])).trim();
      const stored = JSON.parse(await kube.kubectl(["-n", "default", "get", "secret", "siderolink", "-o", "json"]));
      equal(new TextDecoder().decode(Uint8Array.fromBase64(stored.data["installation-id"])), id);
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

    await t.step("in a pod: the service account's token and CA, and a rotated token without a restart", async () => {
      await kube.kubectl(["-n", "default", "delete", "secret", "siderolink"]);
      await kube.kubectl(["apply", "-f", "-"], {
        stdin: JSON.stringify({
          apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
          kind: "ServerBinding",
          metadata: { name: UUID },
          spec: { metalMachineRef: { kind: "MetalMachine", namespace: "default", name: "m" } },
        }),
      });
      const mount = await kube.writeInClusterMount();
      // The pod's layout: the mount at its fixed path, in a mount namespace of serve's own (/run is a fresh tmpfs there).
      const setup = "mount -t tmpfs tmpfs /run && mkdir -p /run/secrets/kubernetes.io/serviceaccount && " +
        'mount --bind "$0" /run/secrets/kubernetes.io/serviceaccount && exec "$@"';
      await ns.exec("ip", ["-6", "addr", "add", "fd5e:5::1/64", "dev", "lo", "nodad"]);
      const child = new Deno.Command("ip", {
        args: ns.wrap("unshare", [
          "-m",
          "sh",
          "-c",
          setup,
          mount.dir,
          Deno.execPath(),
          "run",
          "--allow-all",
          "--frozen",
          CLI,
          "serve",
          "--kubernetes",
          "--state-dir",
          join(work, "pod-state"),
          "--wireguard-endpoint",
          "[fd5e:5::1]:51821",
          "--wireguard-backend",
          "userspace",
          "--interface",
          `slkp${Deno.pid % 100000}`,
          "--api-listen",
          "[fd5e:5::1]:8081",
          "--control-socket",
          join(work, "pod.sock"),
          "--cleanup-on-exit",
        ]),
        env: { ...mount.env, KUBECONFIG: "", NO_COLOR: "1" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      const stderr = new Response(child.stderr).text();
      try {
        const provision = async () =>
          JSON.parse(
            await ns.exec(PYTHON, [NODE_SCRIPT, "provision", "[fd5e:5::1]:8081", UUID, await newKey()]),
          ) as { node_address_prefix?: string; code?: string; details?: string };
        let first: Awaited<ReturnType<typeof provision>> = {};
        for (let attempt = 0; attempt < 100 && !first.node_address_prefix; attempt++) {
          // Until serve listens; its answers before that are connection errors.
          first = await provision().catch(() => ({}));
          if (!first.node_address_prefix) await new Promise((resolve) => setTimeout(resolve, 300));
        }
        ok(first.node_address_prefix, JSON.stringify(first));
        // The token is rotated: the file gets the new one and the apiserver stops taking the old one.
        await Deno.writeTextFile(join(mount.dir, "token"), kube.serviceAccountRotatedToken);
        const tokens = join(kube.dir, "tokens.csv");
        const withoutOld = (await Deno.readTextFile(tokens)).split("\n")
          .filter((line) => !line.startsWith(`${kube.serviceAccountToken},`)).join("\n");
        await Deno.writeTextFile(tokens, withoutOld);
        await kube.stopApiserver();
        await kube.startApiserver();
        equal(
          (await provision()).node_address_prefix,
          first.node_address_prefix,
          "the running serve took the new token",
        );
      } finally {
        child.kill("SIGTERM");
        await child.status;
      }
      match(
        await stderr,
        /"from":"the in-cluster service account \(\/var\/run\/secrets\/kubernetes.io\/serviceaccount\)"/,
      );
    });
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

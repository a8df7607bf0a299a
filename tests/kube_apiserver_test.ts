/**
 * The Kubernetes test harness against itself: a real etcd and kube-apiserver in a namespace, the test CRDs
 * structural (declared fields kept, undeclared ones pruned), status only through the status subresource, the
 * service-account user authenticated but forbidden until RBAC grants it something, and the data surviving an
 * apiserver restart.
 */
import { deepEqual, equal, match, ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { KUBE_TOOLS_REQUIREMENT, KubeApiserver, KUBECTL, SERVICE_ACCOUNT } from "./support/kube_apiserver.ts";
import { NetNs } from "./support/netns.ts";
import { isRoot, onPath, skipUnless } from "./support/requirements.ts";

const UUID = "4c4c4544-0033-4a10-8054-b7c04f4e4d31";
const BINDINGS = "/apis/infrastructure.cluster.x-k8s.io/v1alpha3/serverbindings";
const METAL_MACHINES = "/apis/infrastructure.cluster.x-k8s.io/v1alpha3/namespaces/default/metalmachines";

const ignore = skipUnless(
  "kube-apiserver harness",
  [isRoot(), "root (network namespaces)"],
  [onPath("ip"), "ip (apt-get install iproute2)"],
  [onPath("openssl"), "openssl (apt-get install openssl)"],
  KUBE_TOOLS_REQUIREMENT,
);

/** Every field the ServerBinding schema declares, plus undeclared ones the apiserver must drop. */
const BINDING = {
  apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
  kind: "ServerBinding",
  metadata: { name: UUID, labels: { "cluster.x-k8s.io/cluster-name": "prod" } },
  spec: {
    metalMachineRef: {
      apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
      kind: "MetalMachine",
      namespace: "default",
      name: "prod-cp-x7k2p",
      uid: "0b9a3f2e-7d1c-4e55-9a61-2f4c8d0e1b7a",
      notInSchema: "dropped",
    },
    siderolink: { address: "fdae:41e4:649b:9303:2a07:9c7:5b08:aef7/64", publicKey: "A".repeat(43) + "=" },
    addresses: ["10.5.0.2", "fd00::2"],
    hostname: "talos-prod-cp-1",
    notInSchema: { nested: true },
  },
};

const DECLARED_SPEC = {
  metalMachineRef: {
    apiVersion: BINDING.spec.metalMachineRef.apiVersion,
    kind: "MetalMachine",
    namespace: "default",
    name: "prod-cp-x7k2p",
    uid: BINDING.spec.metalMachineRef.uid,
  },
  siderolink: BINDING.spec.siderolink,
  addresses: BINDING.spec.addresses,
  hostname: BINDING.spec.hostname,
};

const STATUS = {
  ready: true,
  conditions: [
    { type: "TalosInstalled", status: "True", lastTransitionTime: "2024-05-01T10:00:00Z" },
    {
      type: "TalosConfigLoaded",
      status: "False",
      severity: "Error",
      reason: "TalosConfigLoadFailed",
      message: "failed to parse config",
      lastTransitionTime: "2024-05-01T10:01:00Z",
    },
  ],
};

/** The parts of a stored object the test reads. */
interface KubeObject {
  metadata: { labels?: Record<string, string>; ownerReferences?: unknown[] };
  spec?: unknown;
  status?: { conditions?: unknown[] };
}

async function getJson(kube: KubeApiserver, path: string): Promise<KubeObject> {
  return JSON.parse(await kube.kubectl(["get", "--raw", path]));
}

Deno.test({ name: "kube-apiserver harness: CRDs, status subresource, RBAC, restart", ignore }, async (t) => {
  await using ns = await NetNs.create("kube");
  await using kube = await KubeApiserver.start(ns);

  await t.step("a ServerBinding keeps every declared field and loses undeclared ones", async () => {
    // No client-side validation: what is pruned is pruned by the apiserver.
    await kube.kubectl(["create", "--validate=false", "-f", "-"], {
      stdin: JSON.stringify({ ...BINDING, status: STATUS }),
    });
    const stored = await getJson(kube, `${BINDINGS}/${UUID}`);
    deepEqual(stored.spec, DECLARED_SPEC);
    equal(stored.metadata.labels?.["cluster.x-k8s.io/cluster-name"], "prod");
    equal(stored.status, undefined, "status is a subresource: a create does not set it");
    match(
      await kube.kubectl(["get", "serverbindings"]),
      new RegExp(`^${UUID}\\s+prod\\s+${BINDING.spec.siderolink.address}`, "m"),
    );
  });

  await t.step("a ServerBinding's schema rejects a siderolink without publicKey", async () => {
    const invalid = {
      ...BINDING,
      metadata: { name: "invalid" },
      spec: { ...DECLARED_SPEC, siderolink: { address: "fd00::1/64" } },
    };
    await rejects(
      kube.kubectl(["create", "--validate=false", "-f", "-"], { stdin: JSON.stringify(invalid) }),
      /spec\.siderolink\.publicKey: Required/,
    );
  });

  await t.step("status is written through the status subresource only", async () => {
    const stored = await getJson(kube, `${BINDINGS}/${UUID}`);
    const withStatus = { ...stored, status: { ...STATUS, conditions: [{ ...STATUS.conditions[0], dropped: 1 }] } };
    await kube.kubectl(["replace", "--raw", `${BINDINGS}/${UUID}/status`, "-f", "-"], {
      stdin: JSON.stringify(withStatus),
    });
    deepEqual((await getJson(kube, `${BINDINGS}/${UUID}`)).status, { ...STATUS, conditions: [STATUS.conditions[0]] });

    const current = await getJson(kube, `${BINDINGS}/${UUID}`);
    await kube.kubectl(["replace", "-f", "-"], { stdin: JSON.stringify({ ...current, status: STATUS }) });
    deepEqual(
      (await getJson(kube, `${BINDINGS}/${UUID}`)).status?.conditions,
      [STATUS.conditions[0]],
      "the main resource ignores status",
    );

    await kube.kubectl(["replace", "--raw", `${BINDINGS}/${UUID}/status`, "-f", "-"], {
      stdin: JSON.stringify({ ...(await getJson(kube, `${BINDINGS}/${UUID}`)), status: STATUS }),
    });
    deepEqual((await getJson(kube, `${BINDINGS}/${UUID}`)).status, STATUS);
  });

  await t.step("a MetalMachine keeps its spec, owner and status", async () => {
    const metalMachine = {
      apiVersion: "infrastructure.cluster.x-k8s.io/v1alpha3",
      kind: "MetalMachine",
      metadata: {
        name: "prod-cp-x7k2p",
        namespace: "default",
        labels: { "cluster.x-k8s.io/cluster-name": "prod" },
        ownerReferences: [{
          apiVersion: "cluster.x-k8s.io/v1alpha3",
          kind: "Machine",
          name: "prod-cp-1",
          uid: crypto.randomUUID(),
        }],
      },
      spec: { serverRef: { kind: "Server", name: UUID }, providerID: `sidero://${UUID}` },
    };
    await kube.kubectl(["create", "-f", "-"], { stdin: JSON.stringify(metalMachine) });
    const stored = await getJson(kube, `${METAL_MACHINES}/prod-cp-x7k2p`);
    deepEqual(stored.spec, metalMachine.spec);
    deepEqual(stored.metadata.ownerReferences, metalMachine.metadata.ownerReferences);
    const status = {
      addresses: [{ type: "InternalIP", address: "10.5.0.2" }, { type: "Hostname", address: "talos-prod-cp-1" }],
      conditions: STATUS.conditions,
    };
    await kube.kubectl(["replace", "--raw", `${METAL_MACHINES}/prod-cp-x7k2p/status`, "-f", "-"], {
      stdin: JSON.stringify({ ...stored, status }),
    });
    deepEqual((await getJson(kube, `${METAL_MACHINES}/prod-cp-x7k2p`)).status, status);
  });

  await t.step("the service account is authenticated but forbidden until RBAC grants it", async () => {
    const review = {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      spec: {
        resourceAttributes: { group: "infrastructure.cluster.x-k8s.io", resource: "serverbindings", verb: "list" },
      },
    };
    const canList = async () =>
      JSON.parse(
        await kube.kubectl(["create", "-f", "-", "-o", "json"], {
          as: "serviceaccount",
          stdin: JSON.stringify(review),
        }),
      ).status.allowed;
    equal(await canList(), false);
    await rejects(
      kube.kubectl(["get", "serverbindings"], { as: "serviceaccount" }),
      new RegExp(`Forbidden.*User "${SERVICE_ACCOUNT.user}" cannot list resource "serverbindings"`),
    );
    // Granted to the service account's group, read with the rotated token through the in-cluster layout.
    await kube.kubectl([
      "create",
      "clusterrole",
      "read-bindings",
      "--verb=get,list",
      "--resource=serverbindings.infrastructure.cluster.x-k8s.io",
    ]);
    await kube.kubectl([
      "create",
      "clusterrolebinding",
      "read-bindings",
      "--clusterrole=read-bindings",
      `--group=${SERVICE_ACCOUNT.groups[1]}`,
    ]);
    equal(await canList(), true);
    const mount = await kube.writeInClusterMount();
    equal(await Deno.readTextFile(join(mount.dir, "namespace")), SERVICE_ACCOUNT.namespace);
    const names = await ns.exec(KUBECTL, [
      `--server=https://${mount.env.KUBERNETES_SERVICE_HOST}:${mount.env.KUBERNETES_SERVICE_PORT}`,
      `--certificate-authority=${join(mount.dir, "ca.crt")}`,
      `--token=${kube.serviceAccountRotatedToken}`,
      "--kubeconfig=/dev/null",
      "get",
      "serverbindings",
      "-o",
      "name",
    ]);
    equal(names.trim(), `serverbinding.infrastructure.cluster.x-k8s.io/${UUID}`);
    await rejects(kube.kubectl(["delete", "serverbinding", UUID], { as: "serviceaccount" }), /Forbidden/);
  });

  await t.step("the data survives an apiserver restart on the same port", async () => {
    const before = await getJson(kube, `${BINDINGS}/${UUID}`);
    await kube.stopApiserver();
    await rejects(kube.kubectl(["get", "--raw", "/readyz", "--request-timeout=2s"]), /refused/);
    await kube.startApiserver();
    deepEqual(await getJson(kube, `${BINDINGS}/${UUID}`), before);
    ok((await kube.kubectl(["get", "crd", "-o", "name"])).includes("servers.metal.sidero.dev"));
  });
});

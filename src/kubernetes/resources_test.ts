import { deepEqual, equal } from "node:assert/strict";
import type { KubeObject } from "./client.ts";
import { machineOwner, readBinding } from "./resources.ts";

const KEY = "eh3T+pcug1D4zTrvuGWt+ypD+Lt65zH7k43luHDf9Q4=";

function binding(spec: Record<string, unknown>, extra: Partial<KubeObject["metadata"]> = {}): KubeObject {
  return { metadata: { name: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f", resourceVersion: "7", ...extra }, spec };
}

Deno.test("a ServerBinding's link, names and status fields", () => {
  const read = readBinding({
    ...binding(
      {
        siderolink: { address: "FDAE:41E4:649B:9303:0:0:0:2a/64", publicKey: KEY },
        metalMachineRef: { namespace: "prod", name: "prod-cp-x7k2p" },
        hostname: "cp-1",
        addresses: ["10.5.0.2", 7],
      },
      { labels: { "cluster.x-k8s.io/cluster-name": "prod" } },
    ),
    status: { conditions: [{ type: "Ready", status: "True" }, "junk"] },
  });
  deepEqual(read, {
    uuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
    resourceVersion: "7",
    link: { address: "fdae:41e4:649b:9303::2a", publicKey: KEY },
    metalMachine: { namespace: "prod", name: "prod-cp-x7k2p" },
    cluster: "prod",
    hostname: "cp-1",
    addresses: ["10.5.0.2"],
    conditions: [{ type: "Ready", status: "True" }],
  });
});

Deno.test("a malformed link is no link, with the reason", () => {
  const problem = (siderolink: unknown) => readBinding(binding({ siderolink })).linkProblem;
  equal(problem({ address: "nonsense", publicKey: KEY }), 'spec.siderolink.address "nonsense" is not an IPv6 address');
  equal(
    problem({ address: "fd00::1/64/2", publicKey: KEY }),
    'spec.siderolink.address "fd00::1/64/2" is not an IPv6 address',
  );
  equal(problem({ publicKey: KEY }), "spec.siderolink.address is missing");
  equal(problem({ address: "fd00::1/64" }), "spec.siderolink.publicKey is missing");
  equal(problem({ address: "fd00::1/64", publicKey: "c2hvcnQ=" }), "spec.siderolink.publicKey must be 32 bytes, got 5");
  equal(readBinding(binding({})).link, undefined);
  equal(readBinding(binding({})).linkProblem, undefined);
});

Deno.test("the Machine owner: kind Machine in group cluster.x-k8s.io, any version", () => {
  const owned = (apiVersion: string, kind = "Machine") => ({
    metadata: { name: "m", ownerReferences: [{ apiVersion, kind, name: "prod-cp-1" }] },
  });
  equal(machineOwner(owned("cluster.x-k8s.io/v1beta1")), "prod-cp-1");
  equal(machineOwner(owned("cluster.x-k8s.io/v1alpha3")), "prod-cp-1");
  equal(machineOwner(owned("example.com/v1")), undefined);
  equal(machineOwner(owned("cluster.x-k8s.io/v1beta1", "MachineSet")), undefined);
  equal(machineOwner({ metadata: { name: "m" } }), undefined);
});

import { equal, throws } from "node:assert/strict";
import {
  addressOfVirtual,
  canonicalUuid,
  checkInstallationId,
  networkPrefix,
  nodeAddress,
  nodeSuffix,
  serverAddress,
  virtualAddress,
  withPrefixLength,
} from "./addressing.ts";
import { formatIPv6, parseIPv6 } from "./ipv6.ts";

// Computed independently with Python's hashlib and ipaddress (PROTOCOL.md §2's algorithm).
const VECTORS: { id: string; prefix: string; nodes: Record<string, string> }[] = [
  {
    id: "",
    prefix: "fdae:41e4:649b:9303::",
    nodes: {
      "0F3C5A9E-2B1D-4C7E-9F00-6A1B2C3D4E5F": "fdae:41e4:649b:9303:cda8:cd34:bce1:2962",
      "00000000-0000-0000-0000-000000000000": "fdae:41e4:649b:9303:146b:8416:7cf3:cb3d",
      "ffffffff-ffff-ffff-ffff-ffffffffffff": "fdae:41e4:649b:9303:24a9:9c5e:d7dd:a737",
    },
  },
  {
    id: "Xr5Wp6KyWqzG0mQ3vN8Jt2bLc4dEf7gHi9jKl0mNoPs=",
    prefix: "fd7d:e391:ac7d:b203::",
    nodes: {
      "0F3C5A9E-2B1D-4C7E-9F00-6A1B2C3D4E5F": "fd7d:e391:ac7d:b203:9569:9070:f180:e190",
      "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f": "fd7d:e391:ac7d:b203:9569:9070:f180:e190",
      "00000000-0000-0000-0000-000000000000": "fd7d:e391:ac7d:b203:661e:212:932b:d6d4",
      "FFFFFFFF-FFFF-FFFF-FFFF-FFFFFFFFFFFF": "fd7d:e391:ac7d:b203:274d:9a84:1684:5eca",
    },
  },
  {
    id: "installation-ü",
    prefix: "fd31:4f9a:fe9c:bf03::",
    nodes: { "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f": "fd31:4f9a:fe9c:bf03:a69f:6984:9410:e808" },
  },
];

Deno.test("the network prefix matches PROTOCOL.md and independent vectors", () => {
  for (const { id, prefix } of VECTORS) equal(formatIPv6(networkPrefix(id)), prefix);
  equal(withPrefixLength(networkPrefix("")), "fdae:41e4:649b:9303::/64");
  equal(formatIPv6(networkPrefix("", 0x04)), "fdae:41e4:649b:9304::", "the WireGuard-over-gRPC purpose byte");
});

Deno.test("the server address is the prefix's first address", () => {
  for (const { id, prefix } of VECTORS) equal(formatIPv6(serverAddress(id)), `${prefix}1`);
});

Deno.test("node addresses are deterministic, case-insensitive in the UUID, and inside the prefix", () => {
  for (const { id, nodes } of VECTORS) {
    for (const [uuid, address] of Object.entries(nodes)) equal(formatIPv6(nodeAddress(id, uuid)), address);
  }
});

Deno.test("a digest whose first 8 bytes spell 0 or 1 falls back to bytes 8..15", () => {
  const digest = Uint8Array.from({ length: 32 }, (_, i) => i);
  equal(nodeSuffix(digest).toHex(), "0001020304050607");
  for (const last of [0, 1]) {
    digest.fill(0, 0, 8);
    digest[7] = last;
    equal(nodeSuffix(digest).toHex(), "08090a0b0c0d0e0f");
  }
  digest[7] = 2;
  equal(nodeSuffix(digest).toHex(), "0000000000000002");
});

Deno.test("UUIDs are canonicalised and malformed ones named", () => {
  equal(canonicalUuid("0F3C5A9E-2B1D-4C7E-9F00-6A1B2C3D4E5F"), "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f");
  for (
    const bad of [
      "",
      "0f3c5a9e2b1d4c7e9f006a1b2c3d4e5f",
      "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5g",
      " 0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
    ]
  ) {
    throws(
      () => canonicalUuid(bad),
      new RegExp(`malformed server UUID ${JSON.stringify(JSON.stringify(bad)).slice(1, -1)}`),
    );
  }
});

Deno.test("installation IDs must be printable text", () => {
  equal(checkInstallationId(""), "");
  equal(
    checkInstallationId("Xr5Wp6KyWqzG0mQ3vN8Jt2bLc4dEf7gHi9jKl0mNoPs="),
    "Xr5Wp6KyWqzG0mQ3vN8Jt2bLc4dEf7gHi9jKl0mNoPs=",
  );
  throws(() => checkInstallationId("has space"), /malformed installation ID "has space"/);
  throws(() => checkInstallationId("x".repeat(257)), /malformed installation ID/);
});

Deno.test("a virtual address is the virtual prefix with the SideroLink address's suffix, and maps back", () => {
  // Computed independently: the virtual prefix (purpose byte 0x04) of each installation, the node's bytes 8..15.
  const cases: [string, string, string][] = [
    ["", "fdae:41e4:649b:9303:cda8:cd34:bce1:2962", "fdae:41e4:649b:9304:cda8:cd34:bce1:2962"],
    [
      "Xr5Wp6KyWqzG0mQ3vN8Jt2bLc4dEf7gHi9jKl0mNoPs=",
      "fd7d:e391:ac7d:b203:661e:212:932b:d6d4",
      "fd7d:e391:ac7d:b204:661e:212:932b:d6d4",
    ],
    // An imported address need not be a computed one; its suffix is kept all the same.
    ["", "fdae:41e4:649b:9303::2", "fdae:41e4:649b:9304::2"],
  ];
  for (const [id, address, virtual] of cases) {
    equal(formatIPv6(virtualAddress(id, parseIPv6(address)!)), virtual);
    equal(formatIPv6(addressOfVirtual(id, parseIPv6(virtual)!)!), address);
  }
});

Deno.test("an address outside the installation's virtual prefix stands for no machine", () => {
  for (
    const other of [
      "fdae:41e4:649b:9303:cda8:cd34:bce1:2962", // the SideroLink address itself
      "fd7d:e391:ac7d:b204:661e:212:932b:d6d4", // another installation's virtual prefix
      "::1",
    ]
  ) equal(addressOfVirtual("", parseIPv6(other)!), undefined, other);
});

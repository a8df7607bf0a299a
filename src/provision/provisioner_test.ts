import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { formatIPv6, parseIPv6 } from "../ipv6.ts";
import { nodeAddress, serverAddress } from "../addressing.ts";
import { formatKey, generatePrivateKey, publicKeyOf } from "../keys.ts";
import { EmbeddedDirectory } from "../machines/embedded.ts";
import { MachineStore } from "../machines/store.ts";
import { SqliteState } from "../state/sqlite.ts";
import type { Device, DeviceConfig, DeviceInfo } from "../wireguard/device.ts";
import { Provisioner } from "./provisioner.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";

/** Keeps peers in memory the way a device does (keyed by public key), and counts configure calls. */
class MemoryDevice implements Device {
  readonly backend = "userspace";
  readonly name = "memory";
  readonly peers = new Map<string, string[]>();
  calls = 0;
  async ensureLink() {}
  async ensureAddress() {}
  async configure(config: DeviceConfig) {
    this.calls++;
    await new Promise((resolve) => setTimeout(resolve, 1)); // let concurrent provisions interleave if they could
    for (const peer of config.peers ?? []) {
      const key = formatKey(peer.publicKey);
      if (peer.remove) this.peers.delete(key);
      else this.peers.set(key, peer.allowedIPs ?? []);
    }
  }
  read(): Promise<DeviceInfo> {
    throw new Error("not used");
  }
  async deleteLink() {}
  async close() {}
}

async function setup(
  options: {
    joinToken?: string;
    accept?: "any" | "known";
    endpoints?: string[];
    /** Writes records into the state before the directory opens it, as an earlier run would have left them. */
    seed?: (state: SqliteState) => void;
  } = {},
) {
  const state = SqliteState.open(Deno.makeTempDirSync(), "create");
  const { installationId, privateKey } = state.installation();
  options.seed?.(state);
  const machines = new MachineStore(state);
  const directory = new EmbeddedDirectory({
    state,
    inventory: new Map([[UUID, { serverUuid: UUID, cluster: "prod" }]]),
    accept: options.accept ?? "any",
  });
  const device = new MemoryDevice();
  const serverPublicKey = await publicKeyOf(privateKey);
  const provisioner = new Provisioner({
    installationId,
    serverPublicKey,
    serverAddress: formatIPv6(serverAddress(installationId)),
    endpoints: options.endpoints ?? ["192.0.2.1:51821"],
    joinToken: options.joinToken,
    directory,
    device,
  });
  return { state, installationId, machines, directory, device, provisioner, serverPublicKey };
}

async function newKey(): Promise<string> {
  return formatKey(await publicKeyOf(generatePrivateKey()));
}

function refusedWith(code: status, message: RegExp) {
  return (error: unknown) => {
    equal(error instanceof GrpcRefusal, true);
    equal((error as GrpcRefusal).code, code, (error as Error).message);
    equal(message.test((error as Error).message), true, (error as Error).message);
    return true;
  };
}

Deno.test("a provision answers per PROTOCOL.md §3, records the machine and adds its peer", async () => {
  const { state, installationId, machines, directory, device, provisioner, serverPublicKey } = await setup();
  using _ = state;
  const key = await newKey();
  const address = formatIPv6(nodeAddress(installationId, UUID));
  const response = await provisioner.provision({
    nodeUuid: UUID.toUpperCase(),
    nodePublicKey: key,
    nodeUniqueToken: "",
    talosVersion: "v1.9.0",
  });
  deepEqual(response, {
    serverEndpoint: ["192.0.2.1:51821"],
    serverPublicKey: formatKey(serverPublicKey),
    nodeAddressPrefix: `${address}/64`,
    serverAddress: formatIPv6(serverAddress(installationId)),
    grpcPeerAddrPort: "",
  });
  deepEqual([...device.peers], [[key, [`${address}/128`]]]);
  const record = machines.get(UUID)!;
  equal(record.publicKey, key);
  equal(record.address, address);
  equal(record.nodeUniqueToken, undefined, "an empty unique token is absent");
  equal(record.talosVersion, "v1.9.0");
  equal(record.cluster, "prod");
  equal(directory.identify(address)?.cluster, "prod");
});

Deno.test("WireGuard over gRPC: the virtual [addr]:50888 is the only endpoint, the address stays the machine's", async () => {
  const { state, installationId, machines, device, provisioner } = await setup({
    endpoints: ["192.0.2.1:51821", "[2001:db8::1]:51821"],
  });
  using _ = state;
  const address = formatIPv6(nodeAddress(installationId, UUID));
  const udp = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: await newKey() });
  const key = await newKey();
  const tunnelled = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: key, wireguardOverGrpc: true });
  // The virtual prefix is the SideroLink one with purpose byte 0x04; bytes 8..15 stay the machine's.
  const bytes = parseIPv6(address)!;
  bytes[7] = 0x04;
  const virtual = `[${formatIPv6(bytes)}]:50888`;
  equal(tunnelled.grpcPeerAddrPort, virtual);
  deepEqual(tunnelled.serverEndpoint, [virtual]);
  equal(tunnelled.nodeAddressPrefix, udp.nodeAddressPrefix);
  equal(tunnelled.nodeAddressPrefix, `${address}/64`);
  deepEqual([...device.peers], [[key, [`${address}/128`]]]);
  equal(machines.get(UUID)!.address, address);
  const back = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: key, wireguardOverGrpc: false });
  deepEqual(back.serverEndpoint, ["[2001:db8::1]:51821", "192.0.2.1:51821"]);
  equal(back.grpcPeerAddrPort, "");
});

Deno.test("a new key replaces the old peer and keeps the address", async () => {
  const { state, machines, device, provisioner } = await setup();
  using _ = state;
  const first = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: await newKey() });
  const second = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: await newKey() });
  equal(second.nodeAddressPrefix, first.nodeAddressPrefix);
  equal(device.peers.size, 1);
  deepEqual([...device.peers.keys()], [machines.get(UUID)!.publicKey]);
});

Deno.test("when the record cannot be written, the device keeps matching the records", async () => {
  const { state, installationId, directory, device, provisioner } = await setup();
  using _ = state;
  const key = await newKey();
  await provisioner.provision({ nodeUuid: UUID, nodePublicKey: key });
  directory.recordProvision = () => Promise.reject(new Error("database or disk is full"));
  const other = "11111111-2222-4333-8444-555555555555";
  await rejects(
    provisioner.provision({ nodeUuid: other, nodePublicKey: await newKey() }),
    refusedWith(status.INTERNAL, /could not record the machine: database or disk is full/),
  );
  await rejects(provisioner.provision({ nodeUuid: UUID, nodePublicKey: await newKey() }), refusedWith(13, /full/));
  deepEqual([...device.peers], [[key, [`${formatIPv6(nodeAddress(installationId, UUID))}/128`]]]);
});

Deno.test("with several endpoints the primary is written last", async () => {
  const { state, provisioner } = await setup({
    endpoints: ["192.0.2.1:51821", "198.51.100.1:51821", "[2001:db8::1]:51821"],
  });
  using _ = state;
  const response = await provisioner.provision({ nodeUuid: UUID, nodePublicKey: await newKey() });
  deepEqual(response.serverEndpoint, ["[2001:db8::1]:51821", "198.51.100.1:51821", "192.0.2.1:51821"]);
});

Deno.test("refusals carry the gRPC status Talos expects", async () => {
  const { state, provisioner } = await setup({ joinToken: "t0ken", accept: "known" });
  using _ = state;
  const key = await newKey();
  throws(() => provisioner.provision({ nodeUuid: UUID, nodePublicKey: key }), refusedWith(7, /invalid join token/));
  throws(
    () => provisioner.provision({ nodeUuid: UUID, nodePublicKey: key, joinToken: "t0ken!" }),
    refusedWith(status.PERMISSION_DENIED, /invalid join token/),
  );
  throws(
    () => provisioner.provision({ nodeUuid: "x".repeat(1 << 20), nodePublicKey: key, joinToken: "t0ken" }),
    (error: Error) =>
      refusedWith(status.INVALID_ARGUMENT, /node_uuid: malformed server UUID/)(error) && error.message.length < 200,
  );
  for (const length of [31, 33]) {
    throws(
      () =>
        provisioner.provision({ nodeUuid: UUID, nodePublicKey: new Uint8Array(length).toBase64(), joinToken: "t0ken" }),
      refusedWith(status.INVALID_ARGUMENT, new RegExp(`node_public_key must be 32 bytes, got ${length}`)),
    );
  }
  await rejects(
    provisioner.provision({ nodeUuid: "00000000-0000-0000-0000-000000000000", nodePublicKey: key, joinToken: "t0ken" }),
    refusedWith(status.NOT_FOUND, /not in the inventory/),
  );
  equal((await provisioner.provision({ nodeUuid: UUID, nodePublicKey: key, joinToken: "t0ken" })).grpcPeerAddrPort, "");
});

Deno.test("one key cannot take over another machine's peer, nor one address two machines", async () => {
  const squatter = "00000000-0000-0000-0000-000000000004";
  const { state, provisioner } = await setup({
    seed: (state) =>
      state.db.prepare("INSERT INTO machines (uuid, address) VALUES (?, ?)").run(
        squatter,
        formatIPv6(nodeAddress(state.installation().installationId, "00000000-0000-0000-0000-000000000005")),
      ),
  });
  using _ = state;
  const key = await newKey();
  await provisioner.provision({ nodeUuid: UUID, nodePublicKey: key });
  await rejects(
    provisioner.provision({ nodeUuid: "00000000-0000-0000-0000-000000000002", nodePublicKey: key }),
    refusedWith(status.ALREADY_EXISTS, new RegExp(`in use by server ${UUID}`)),
  );
  await rejects(
    provisioner.provision({ nodeUuid: "00000000-0000-0000-0000-000000000005", nodePublicKey: await newKey() }),
    refusedWith(status.ALREADY_EXISTS, new RegExp(`held by ${squatter}`)),
  );
});

Deno.test("concurrent provisions of one UUID are serialised and end consistent", async () => {
  const { state, machines, device, provisioner } = await setup();
  using _ = state;
  const keys = await Promise.all(Array.from({ length: 50 }, newKey));
  const responses = await Promise.all(
    keys.map((nodePublicKey) => provisioner.provision({ nodeUuid: UUID, nodePublicKey })),
  );
  equal(new Set(responses.map((response) => response.nodeAddressPrefix)).size, 1);
  equal(device.peers.size, 1, "only the last key's peer remains");
  deepEqual([...device.peers.keys()], [machines.get(UUID)!.publicKey]);
  equal(machines.get(UUID)!.publicKey, keys.at(-1));
});

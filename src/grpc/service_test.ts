import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import protobuf from "protobufjs";
import { loadService } from "./service.ts";

const provision = loadService(new URL("../proto/provision.proto", import.meta.url), "sidero.link.ProvisionService")
  .Provision;

/** Field numbers and wire types of a message, in wire order. */
function fields(bytes: Uint8Array): [number, number][] {
  const reader = protobuf.Reader.create(bytes);
  const seen: [number, number][] = [];
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    seen.push([tag >>> 3, tag & 7]);
    reader.skipType(tag & 7);
  }
  return seen;
}

Deno.test("Provision is the unary /sidero.link.ProvisionService/Provision", () => {
  assert.equal(provision.path, "/sidero.link.ProvisionService/Provision");
  assert.equal(provision.requestStream, false);
  assert.equal(provision.responseStream, false);
});

Deno.test("request optional fields stay absent unless sent; an empty string sent is present", () => {
  const roundTrip = (value: object) => provision.requestDeserialize(provision.requestSerialize(value));
  assert.deepEqual(roundTrip({ node_uuid: "u", node_public_key: "k" }), { node_uuid: "u", node_public_key: "k" });
  assert.deepEqual(roundTrip({ node_uuid: "u", node_unique_token: "", talos_version: "v1.9.0" }), {
    node_uuid: "u",
    node_public_key: "",
    node_unique_token: "",
    talos_version: "v1.9.0",
  });
  assert.deepEqual(roundTrip({ join_token: "t", wireguard_over_grpc: true }), {
    node_uuid: "",
    node_public_key: "",
    join_token: "t",
    wireguard_over_grpc: true,
  });
  assert.deepEqual(
    fields(provision.requestSerialize({ node_uuid: "u", node_public_key: "k", join_token: "t", talos_version: "v" })),
    [[1, 2], [2, 2], [3, 2], [5, 2]],
  );
});

Deno.test("the response has fields 1 (repeated, in order), 3, 4, 5, 6 and no field 2", () => {
  const bytes = provision.responseSerialize({
    server_endpoint: ["[fd00::1]:51821", "10.0.0.1:51821"],
    server_public_key: "key",
    node_address_prefix: "fdae:41e4:649b:9303::2/64",
    server_address: "fdae:41e4:649b:9303::1",
    grpc_peer_addr_port: "x",
  });
  assert.deepEqual(fields(bytes), [[1, 2], [1, 2], [3, 2], [4, 2], [5, 2], [6, 2]]);
  assert.deepEqual(
    (provision.responseDeserialize(Buffer.from(bytes)) as { server_endpoint: string[] }).server_endpoint,
    ["[fd00::1]:51821", "10.0.0.1:51821"],
  );
});

Deno.test("malformed request bytes throw (grpc-js answers INTERNAL), never crash", () => {
  for (const bytes of [[0x0a, 0x0a, 0x41], [0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f], [0x0f]]) {
    assert.throws(() => provision.requestDeserialize(Buffer.from(bytes)), RangeError, `bytes ${bytes}`);
  }
});

// A grpc-js client that runs unchanged under Node and under Deno: for each of `rounds` rounds it opens a
// channel, makes `calls` Provision calls (`parallel` at a time), then `close()`s it, which sends HTTP/2 GOAWAY
// with last-stream-id 0. Usage: grpc_node_client.mjs HOST:PORT CALLS ROUNDS [PARALLEL [UUID]], where UUID is sent
// in every call instead of a UUID per call (the test server answers "slow" late). Prints one JSON line:
// {"calls": done, "failed": n, "peers": [distinct peers the server reported]}.
import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";

const [target, calls, rounds, parallel = "16", fixedUuid] = process.argv.slice(2);
const proto = new URL("../../src/proto/provision.proto", import.meta.url);
const root = new protobuf.Root().loadSync(decodeURIComponent(proto.pathname), { keepCase: true });
const Request = root.lookupType("sidero.link.ProvisionRequest");
const Response = root.lookupType("sidero.link.ProvisionResponse");

let done = 0, failed = 0;
const peers = new Set();
for (let round = 0; round < Number(rounds); round++) {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  let next = 0;
  const worker = async () => {
    while (next < Number(calls)) {
      const uuid = fixedUuid ?? `call-${round}-${next}`;
      next++;
      try {
        const reply = await new Promise((resolve, reject) =>
          client.makeUnaryRequest(
            "/sidero.link.ProvisionService/Provision",
            (value) => Buffer.from(Request.encode(Request.fromObject(value)).finish()),
            (bytes) => Response.toObject(Response.decode(bytes)),
            { node_uuid: uuid, node_public_key: "" },
            { deadline: Date.now() + 10_000 },
            (error, value) => error ? reject(error) : resolve(value),
          )
        );
        if (reply.server_endpoint[0] !== uuid) throw new Error(`reply to ${uuid} names ${reply.server_endpoint[0]}`);
        peers.add(reply.grpc_peer_addr_port);
        done++;
      } catch (error) {
        failed++;
        console.error(String(error));
      }
    }
  };
  await Promise.all(Array.from({ length: Number(parallel) }, worker));
  client.close();
}
console.log(JSON.stringify({ calls: done, failed, peers: [...peers] }));

// A grpc-js client that runs unchanged under Node and under Deno: for each of `rounds` rounds it opens a
// channel, makes `calls` Provision calls (`parallel` at a time), then `close()`s it, which sends HTTP/2 GOAWAY
// with last-stream-id 0. Usage: grpc_node_client.mjs HOST:PORT CALLS ROUNDS [PARALLEL [UUID]], where UUID is sent
// in every call instead of a UUID per call (the test server answers "slow" late). Prints one JSON line:
// {"calls": done, "failed": n, "peers": [distinct peers the server reported]}. With TLS_CA_FILE in the
// environment it dials TLS, trusting only that CA's PEM, and expects the certificate to name `localhost`
// (grpc-js would send an IP target as the TLS server name, which Deno's `tls.connect` refuses).
import * as grpc from "@grpc/grpc-js";
import { readFileSync } from "node:fs";
import protobuf from "protobufjs";

const [target, calls, rounds, parallel = "16", fixedUuid] = process.argv.slice(2);
const proto = new URL("../../src/proto/provision.proto", import.meta.url);
const root = new protobuf.Root().loadSync(decodeURIComponent(proto.pathname), { keepCase: true });
const Request = root.lookupType("sidero.link.ProvisionRequest");
const Response = root.lookupType("sidero.link.ProvisionResponse");

const caFile = process.env.TLS_CA_FILE;
const credentials = caFile ? grpc.credentials.createSsl(readFileSync(caFile)) : grpc.credentials.createInsecure();
const channelOptions = caFile ? { "grpc.ssl_target_name_override": "localhost" } : {};

let done = 0, failed = 0;
const peers = new Set();
for (let round = 0; round < Number(rounds); round++) {
  const client = new grpc.Client(target, credentials, channelOptions);
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

// A grpc-js client for the fault tests that runs under Deno (and Node): for each of ROUNDS rounds it opens a
// channel, makes CALLS calls (16 in flight) and then close()s it, which sends HTTP/2 GOAWAY with last-stream-id 0
// (the runtime defect the server's GOAWAY filter exists for). KIND "events": event sink Publish calls, each with a
// unique id "PREFIX-round-n" and a payload type the sink does not know (acknowledged, printed, stored); KIND
// "provision": Provision calls without a join token (refused, which is enough to exercise the connection).
// Requests are encoded by hand (protobuf wire format), independent of the server's code.
// Usage: grpc_js_publisher.mjs HOST:PORT KIND CALLS ROUNDS PREFIX
// Prints one JSON line: {"codes": {grpc status code: count}}.
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";

const [target, kind, calls, rounds, prefix] = process.argv.slice(2);

/** A length-delimited protobuf field (lengths below 128 bytes). */
function field(number, bytes) {
  return Buffer.concat([Buffer.from([(number << 3) | 2, bytes.length]), bytes]);
}

const unknownType = field(1, Buffer.from("type.googleapis.com/machine.FutureEvent"));
const request = kind === "events"
  ? (id) => Buffer.concat([field(1, unknownType), field(2, Buffer.from(id))])
  : (id) => Buffer.concat([field(1, Buffer.from(id)), field(2, Buffer.from("not a key"))]);
const path = kind === "events" ? "/events.EventSinkService/Publish" : "/sidero.link.ProvisionService/Provision";

const codes = {};
for (let round = 0; round < Number(rounds); round++) {
  const client = new grpc.Client(target, grpc.credentials.createInsecure());
  let next = 0;
  const worker = async () => {
    while (next < Number(calls)) {
      const id = `${prefix}-${round}-${next++}`;
      const code = await new Promise((resolve) =>
        client.makeUnaryRequest(path, (bytes) => bytes, (bytes) => bytes, request(id), {
          deadline: Date.now() + 20_000,
        }, (error) => resolve(error ? error.code : 0))
      );
      codes[code] = (codes[code] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: 16 }, worker));
  client.close();
}
console.log(JSON.stringify({ codes }));

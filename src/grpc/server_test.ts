import { formatHostPort } from "../hostport.ts";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { once } from "node:events";
import * as http2 from "node:http2";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { type GrpcService, peerOf, startGrpcServer } from "./server.ts";
import { loadProto, serviceDefinition } from "./service.ts";

const root = loadProto(new URL("../proto/provision.proto", import.meta.url));
const Request = root.lookupType("sidero.link.ProvisionRequest");
const Response = root.lookupType("sidero.link.ProvisionResponse");
const PATH = "/sidero.link.ProvisionService/Provision";

/** Provision answering with the peer as the handler saw it, after `delayMs` when the UUID is "slow". */
function provisionService(delayMs = 0): GrpcService {
  return {
    definition: serviceDefinition(root, "sidero.link.ProvisionService"),
    implementation: {
      Provision: (call: grpc.ServerUnaryCall<{ node_uuid: string }, object>, callback: grpc.sendUnaryData<object>) => {
        const peer = peerOf(call);
        const reply = () => callback(null, { server_address: peer.address, grpc_peer_addr_port: String(peer.port) });
        if (call.request.node_uuid === "slow") setTimeout(reply, delayMs);
        else reply();
      },
    },
  };
}

/**
 * Makes one Provision call over HTTP/2 on a TCP connection this test opens itself, so that it knows the
 * client's own address and port; returns them with the reply, or the gRPC status when the call failed.
 * `request` is the UUID to send, or the raw bytes of the request message.
 */
async function callOverOwnSocket(host: string, port: number, request: string | Uint8Array = "u"): Promise<{
  local: { address: string; port: number };
  reply?: { server_address: string; grpc_peer_addr_port: string };
  status?: string;
}> {
  const socket = net.connect({ host, port });
  await once(socket, "connect");
  const local = { address: socket.localAddress!, port: socket.localPort! };
  const session = http2.connect(`http://${formatHostPort(host, port)}`, { createConnection: () => socket });
  try {
    const stream = session.request({
      ":method": "POST",
      ":path": PATH,
      "content-type": "application/grpc",
      te: "trailers",
    });
    const message = typeof request === "string" ? Request.encode({ node_uuid: request }).finish() : request;
    const framed = Buffer.alloc(5 + message.length);
    framed.writeUInt32BE(message.length, 1);
    framed.set(message, 5);
    stream.end(framed);
    const chunks: Buffer[] = [];
    let status = "";
    stream.on("data", (chunk: Buffer) => chunks.push(chunk));
    // A call that fails at once gets its status in the response headers ("trailers-only").
    stream.on("response", (headers) => status = String(headers["grpc-status"] ?? ""));
    stream.on("trailers", (trailers) => status = String(trailers["grpc-status"]));
    await once(stream, "close");
    const body = Buffer.concat(chunks);
    if (status !== "0") return { local, status };
    const reply = Response.toObject(Response.decode(body.subarray(5))) as {
      server_address: string;
      grpc_peer_addr_port: string;
    };
    return { local, reply };
  } finally {
    session.close();
  }
}

/** Whether a TCP connection to `host:port` is accepted. */
async function accepts(host: string, port: number): Promise<boolean> {
  const socket = net.connect({ host, port });
  try {
    await Promise.race([once(socket, "connect"), once(socket, "error").then(([error]) => Promise.reject(error))]);
    return true;
  } catch {
    return false;
  } finally {
    socket.destroy();
  }
}

Deno.test("handlers see the client's real address and port (IPv4 and IPv6)", async () => {
  for (const host of ["127.0.0.1", "::1"]) {
    await using server = await startGrpcServer({ host, port: 0, services: [provisionService()] });
    assert.equal(server.host, host);
    const { local, reply } = await callOverOwnSocket(host, server.port);
    assert.deepEqual(reply, { server_address: local.address, grpc_peer_addr_port: String(local.port) });
  }
});

Deno.test("peerOf parses IPv4, IPv6 and IPv4-mapped peers", () => {
  assert.deepEqual(peerOf({ getPeer: () => "10.5.0.2:40312" }), { address: "10.5.0.2", port: 40312 });
  assert.deepEqual(peerOf({ getPeer: () => "fd00::2:51234" }), { address: "fd00::2", port: 51234 });
  assert.deepEqual(peerOf({ getPeer: () => "[fd00::2]:51234" }), { address: "fd00::2", port: 51234 });
  assert.deepEqual(peerOf({ getPeer: () => "::ffff:10.5.0.2:4000" }), { address: "10.5.0.2", port: 4000 });
  assert.throws(() => peerOf({ getPeer: () => "unknown" }), /gRPC peer "unknown" has no address and port/);
});

Deno.test("the server binds exactly the configured address", async () => {
  await using v4 = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService()] });
  assert.equal(await accepts("127.0.0.1", v4.port), true);
  assert.equal(await accepts("127.0.0.2", v4.port), false);
  assert.equal(await accepts("::1", v4.port), false);
  await using v6 = await startGrpcServer({ host: "::1", port: 0, services: [provisionService()] });
  assert.equal(await accepts("::1", v6.port), true);
  assert.equal(await accepts("127.0.0.1", v6.port), false);
});

Deno.test("a port already in use is a clear error", async () => {
  await using server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService()] });
  await assert.rejects(
    startGrpcServer({ host: "127.0.0.1", port: server.port, services: [provisionService()] }),
    new RegExp(`cannot listen for gRPC on 127\\.0\\.0\\.1:${server.port}: .*EADDRINUSE`),
  );
});

Deno.test("HTTP/1.1, garbage and resets get an error or a closed connection, and the server keeps serving", async () => {
  await using server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService()] });
  const inputs = [
    "GET / HTTP/1.1\r\nHost: x\r\n\r\n",
    "POST /sidero.link.ProvisionService/Provision HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    "\x00\x01\x02garbage\xff\xfe".repeat(100),
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\xff\xff\xff\x07\x00\x00\x00\x00\x00rubbish",
    "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x08\x07\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00",
  ];
  for (const input of inputs) {
    const socket = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    await socket.write(Uint8Array.from(input, (c) => c.charCodeAt(0)));
    const answer = new Uint8Array(4096);
    // Either some bytes (an error) or end of stream; a hang fails the test by its timer.
    const timer = setTimeout(() => socket.close(), 5_000);
    let read: number | null = 0;
    try {
      read = await socket.read(answer);
    } catch {
      read = null; // reset by the server
    }
    clearTimeout(timer);
    assert.ok(read === null || read > 0, `answer to ${JSON.stringify(input.slice(0, 20))}`);
    try {
      socket.close();
    } catch { /* already closed */ }
  }
  // A client that resets its connection in the middle of a frame.
  const reset = net.connect({ host: "127.0.0.1", port: server.port });
  await once(reset, "connect");
  reset.write("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x20\x01");
  reset.resetAndDestroy();
  const { local, reply } = await callOverOwnSocket("127.0.0.1", server.port);
  assert.equal(reply?.grpc_peer_addr_port, String(local.port));
});

Deno.test("a malformed request message is answered INTERNAL", async () => {
  await using server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService()] });
  const { status } = await callOverOwnSocket("127.0.0.1", server.port, new Uint8Array([0x0a, 0x0a, 0x41]));
  assert.equal(status, String(grpc.status.INTERNAL));
});

/** One Provision call through a grpc-js channel; resolves with the reply or the error. */
function grpcJsCall(client: grpc.Client, uuid: string): Promise<{ reply?: object; error?: grpc.ServiceError }> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      PATH,
      (value: object) => Buffer.from(Request.encode(value).finish()),
      (bytes: Buffer) => Response.toObject(Response.decode(bytes)),
      { node_uuid: uuid },
      (error, reply) => resolve(error ? { error } : { reply }),
    )
  );
}

// These use grpc-js channels: Deno's bare node:http2 client session (as in callOverOwnSocket) sometimes
// crashes the process when the server's GOAWAY reaches it during a call, a client-side fault of the runtime.
Deno.test("shutdown lets an in-flight call finish, then refuses new connections", async () => {
  const server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService(300)] });
  const target = `127.0.0.1:${server.port}`;
  // An idle channel, connected by a first call, must not hold shutdown back.
  const idle = new grpc.Client(target, grpc.credentials.createInsecure());
  assert.ok((await grpcJsCall(idle, "u")).reply);
  const busy = new grpc.Client(target, grpc.credentials.createInsecure());
  const call = grpcJsCall(busy, "slow");
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  await server.shutdown(5_000);
  assert.ok(performance.now() - started < 2_000, "shutdown waited no longer than the call");
  assert.ok((await call).reply, "the in-flight call got its reply");
  assert.equal(await accepts("127.0.0.1", server.port), false);
  await server.shutdown(); // a second call is harmless
  idle.close();
  busy.close();
});

Deno.test("shutdown cancels calls still running after the grace period", async () => {
  const server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [provisionService(60_000)] });
  const client = new grpc.Client(`127.0.0.1:${server.port}`, grpc.credentials.createInsecure());
  const call = grpcJsCall(client, "slow");
  await new Promise((resolve) => setTimeout(resolve, 100));
  const started = performance.now();
  await server.shutdown(300);
  const took = performance.now() - started;
  assert.ok(took >= 250 && took < 2_000, `shutdown took ${took} ms`);
  assert.equal((await call).error?.code, grpc.status.CANCELLED);
  client.close();
});

/**
 * The WireGuard-over-gRPC service over a real gRPC listener, driven by an independent client (Python grpcio, with
 * PeerPacket encoded by hand in `grpc_tunnel_node.py`), relaying to a real UDP socket on loopback that stands where
 * WireGuard's listen port would be: refusals, datagrams both ways (also over TLS), replacement, oversized and
 * garbage messages, and a stream that never reads while datagrams pour in for it. The end-to-end tests
 * (`grpc_tunnel_test.ts`, `grpc_tunnel_kernel_test.ts`) put real WireGuard on both sides.
 *
 * @module
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import dgram from "node:dgram";
import { Buffer } from "node:buffer";
import v8 from "node:v8";
import vm from "node:vm";
import { type GrpcServer, startGrpcServer } from "../src/grpc/server.ts";
import type { TlsSource } from "../src/grpc/tls_accept.ts";
import { ReloadingTlsPair } from "../src/grpc/tls_reload.ts";
import { GrpcTunnel } from "../src/tunnel/service.ts";
import { MAX_DATAGRAM, OUTBOUND_RING } from "../src/tunnel/relay.ts";
import { hasPythonGrpc, PYTHON, skipUnless } from "./support/requirements.ts";
import { lineReader } from "./support/line_reader.ts";
import { OPENSSL, TestCa } from "./support/test_ca.ts";

const NODE = new URL("./support/grpc_tunnel_node.py", import.meta.url).pathname;
const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
// Installation ID "": the machine's SideroLink address and its virtual address (PROTOCOL.md §2, §3).
const ADDRESS = "fdae:41e4:649b:9303:cda8:cd34:bce1:2962";
const VIRTUAL = "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50888";

const PYTHON_GRPC: [boolean, string][] = [
  [hasPythonGrpc(), "python3 with grpcio (apt-get install python3-grpcio python3-grpc-tools)"],
];
const ignore = skipUnless("WireGuard-over-gRPC service", ...PYTHON_GRPC);

interface StreamResult {
  code: string | null;
  details: string;
  received: number;
}

/** A tunnel service on a real listener, relaying to `wireguard`, a UDP socket on loopback. */
class Bench implements AsyncDisposable {
  readonly tunnel: GrpcTunnel;
  readonly wireguard: dgram.Socket;
  readonly server: GrpcServer;
  /** What reached the stand-in for WireGuard, with the port it came from. */
  readonly arrived: { data: Uint8Array; port: number; address: string }[] = [];

  /** Where the Python client dials (`https://…` over TLS) and the environment it needs for that. */
  readonly #api: string;
  readonly #env: Record<string, string>;

  private constructor(
    tunnel: GrpcTunnel,
    wireguard: dgram.Socket,
    server: GrpcServer,
    client: { api: string; env: Record<string, string> },
  ) {
    this.tunnel = tunnel;
    this.wireguard = wireguard;
    this.server = server;
    this.#api = client.api;
    this.#env = client.env;
    wireguard.on("message", (data, from) => this.arrived.push({ data, port: from.port, address: from.address }));
  }

  /**
   * Starts the service; `wireguardPort` stands for WireGuard's port instead of the bench's own socket, and `tls`
   * serves the listener over TLS as `--api-tls-cert` does, the client trusting `tls.caFile`.
   */
  static async start(
    options: { wireguardPort?: number; tls?: { pair: TlsSource; caFile: string } } = {},
  ): Promise<Bench> {
    const wireguard = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => wireguard.bind(0, "127.0.0.1", resolve));
    const tunnel = new GrpcTunnel({
      installationId: "",
      wireguardPort: options.wireguardPort ?? wireguard.address().port,
      identify: (address) => address === ADDRESS ? { serverUuid: UUID } : undefined,
    });
    const server = await startGrpcServer({
      host: "127.0.0.1",
      port: 0,
      services: [tunnel.service()],
      tls: options.tls?.pair,
    });
    const client: { api: string; env: Record<string, string> } = options.tls
      ? { api: `https://127.0.0.1:${server.port}`, env: { TLS_CA_FILE: options.tls.caFile } }
      : { api: `127.0.0.1:${server.port}`, env: {} };
    return new Bench(tunnel, wireguard, server, client);
  }

  /** One stream from the Python client (see `grpc_tunnel_node.py stream`). */
  async stream(
    virtual: string,
    messages: ({ data: Uint8Array } | { raw: Uint8Array })[],
    holdSeconds: number,
    mode: "read" | "no-read" = "read",
  ): Promise<StreamResult> {
    const encoded = messages.map((m) => "data" in m ? { data_hex: m.data.toHex() } : { raw_hex: m.raw.toHex() });
    const args = [
      NODE,
      "stream",
      this.#api,
      virtual,
      JSON.stringify(encoded),
      String(holdSeconds),
    ];
    const output = await new Deno.Command(PYTHON, {
      args: [...args, mode],
      env: this.#env,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder();
    ok(output.success, text.decode(output.stderr));
    return JSON.parse(text.decode(output.stdout));
  }

  /** Waits until `condition` holds, checking every 20 ms, for at most 10 s. */
  async until(condition: () => boolean, what: string): Promise<void> {
    for (const deadline = Date.now() + 10_000; !condition();) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.tunnel.close();
    await this.server.shutdown();
    this.wireguard.close();
  }
}

/** Whether a UDP port on loopback is free again (its relay socket closed). */
async function portFree(port: number): Promise<boolean> {
  const socket = dgram.createSocket("udp4");
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("error", reject);
      socket.bind(port, "127.0.0.1", resolve);
    });
    return true;
  } catch {
    return false;
  } finally {
    socket.close();
  }
}

const bytes = (length: number, fill: number) => new Uint8Array(length).fill(fill);

// A full garbage collection before each reading, so that what is measured is what the process still holds, not
// the received datagrams it has not collected yet.
v8.setFlagsFromString("--expose-gc");
const collectGarbage = vm.runInNewContext("gc") as () => void;

/** How much more the never-reading stream may make the process hold: the client's flow-control window and change. */
const MEMORY_BOUND = 16 * 2 ** 20;

/** Bytes the process holds (V8 heap and buffers) after a full collection. */
function heldBytes(): number {
  collectGarbage();
  const { heapUsed, external } = Deno.memoryUsage();
  return heapUsed + external;
}

Deno.test({ name: "tunnel streams are refused with the reference's errors", ignore }, async () => {
  await using bench = await Bench.start();
  const refusals = await Promise.all([
    bench.stream("-", [], 5),
    bench.stream("not an address", [], 5),
    bench.stream("[fdae:41e4:649b:9304::]", [], 5),
    bench.stream("[fdae:41e4:649b:9304::2]:50888", [], 5), // no machine holds it
    bench.stream(`[${ADDRESS}]:50888`, [], 5), // the SideroLink address, not the virtual one
    bench.stream("[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:4000", [], 5),
  ]);
  deepEqual(refusals, [
    { code: "INVALID_ARGUMENT", details: "failed to get peer address from context", received: 0 },
    { code: "INVALID_ARGUMENT", details: 'incorrect header value "not an address"', received: 0 },
    { code: "INVALID_ARGUMENT", details: 'incorrect header value "[fdae:41e4:649b:9304::]"', received: 0 },
    { code: "PERMISSION_DENIED", details: "peer not allowed", received: 0 },
    { code: "PERMISSION_DENIED", details: "peer not allowed", received: 0 },
    { code: "PERMISSION_DENIED", details: "peer not allowed", received: 0 },
  ]);
  equal(bench.tunnel.counters.streamsRefused, 6);
  equal(bench.tunnel.counters.streamsAccepted, 0);
  equal(bench.arrived.length, 0);
});

/** Datagrams both ways through one stream of `bench`'s client, from a relay socket that closes with the stream. */
async function relaysBothWays(bench: Bench): Promise<void> {
  const sent = [bytes(148, 1), bytes(32, 2), bytes(MAX_DATAGRAM, 3)];
  const result = bench.stream(VIRTUAL, sent.map((data) => ({ data })), 4);
  await bench.until(() => bench.arrived.length === 3, "three datagrams at WireGuard's port");
  const [{ port }] = bench.arrived;
  deepEqual(bench.arrived.map((a) => [Buffer.from(a.data).toString("hex"), a.port, a.address]), [
    ...sent.map((data) => [data.toHex(), port, "127.0.0.1"]),
  ]);
  equal(bench.tunnel.open, 1);
  // WireGuard answers to the socket the datagrams came from; another sender's datagram there is not relayed.
  const stranger = dgram.createSocket("udp4");
  stranger.send(bytes(64, 9), port, "127.0.0.1", () => stranger.close());
  for (const fill of [4, 5]) bench.wireguard.send(bytes(92, fill), port, "127.0.0.1");
  deepEqual(await result, { code: null, details: "", received: 2 });
  const { datagramsIn, bytesIn, datagramsOut, bytesOut } = bench.tunnel.counters;
  deepEqual({ datagramsIn, bytesIn, datagramsOut, bytesOut }, {
    datagramsIn: 3,
    bytesIn: 148 + 32 + MAX_DATAGRAM,
    datagramsOut: 2,
    bytesOut: 184,
  });
  // The stream's end closes its socket.
  await bench.until(() => bench.tunnel.open === 0, "the stream to end");
  ok(await portFree(port), `port ${port} is closed`);
}

Deno.test(
  { name: "a stream's datagrams reach WireGuard's port from a socket of its own, and back", ignore },
  async () => {
    await using bench = await Bench.start();
    await relaysBothWays(bench);
  },
);

Deno.test({
  name: "the same over TLS, as on the Provision API's TLS listener (Talos dials the tunnel as it dials the API)",
  ignore: skipUnless("WireGuard-over-gRPC service over TLS", ...PYTHON_GRPC, OPENSSL),
}, async () => {
  await using ca = await TestCa.temporary();
  const issued = await ca.issue("api", ["localhost", "127.0.0.1"]);
  using pair = await ReloadingTlsPair.open(issued);
  await using bench = await Bench.start({ tls: { pair, caFile: ca.caFile } });
  await relaysBothWays(bench);
});

Deno.test({ name: "a second stream for one machine ends the first with ABORTED peer replaced", ignore }, async () => {
  await using bench = await Bench.start();
  const first = bench.stream(VIRTUAL, [{ data: bytes(32, 1) }], 8);
  await bench.until(() => bench.arrived.length === 1, "the first stream's datagram");
  const second = bench.stream(VIRTUAL, [{ data: bytes(32, 2) }], 4);
  deepEqual(await first, { code: "ABORTED", details: "peer replaced", received: 0 });
  deepEqual(await second, { code: null, details: "", received: 0 });
  equal(bench.tunnel.counters.streamsReplaced, 1);
  equal(bench.tunnel.counters.streamsAccepted, 2);
  const [one, two] = bench.arrived;
  ok(one.port !== two.port, "each stream has its own socket");
  ok(await portFree(one.port), "the replaced stream's socket is closed");
});

Deno.test({ name: "oversized and garbage messages: refused, or left to WireGuard to drop", ignore }, async () => {
  await using bench = await Bench.start();
  const oversized = await bench.stream(VIRTUAL, [{ data: bytes(MAX_DATAGRAM + 1, 1) }, { data: bytes(32, 2) }], 5);
  deepEqual(oversized, {
    code: "RESOURCE_EXHAUSTED",
    details: `PeerPacket of ${MAX_DATAGRAM + 1} bytes: a WireGuard datagram is at most ${MAX_DATAGRAM} bytes`,
    received: 0,
  });
  equal(bench.tunnel.counters.droppedOversized, 1);
  // Not protobuf at all (a truncated length-delimited field): the stream ends, nothing reaches WireGuard.
  const garbage = await bench.stream(VIRTUAL, [{ raw: Uint8Array.of(0x12, 0x7f, 1, 2) }], 5);
  equal(garbage.code, "INTERNAL", JSON.stringify(garbage));
  // A well-formed message of random bytes is WireGuard's to judge (it drops what does not authenticate); unknown
  // fields are skipped.
  const random = crypto.getRandomValues(new Uint8Array(200));
  const withUnknownField = Uint8Array.of(0x08, 0x01, 0x12, 3, 7, 8, 9);
  const relayed = bench.stream(VIRTUAL, [{ data: random }, { raw: withUnknownField }], 2);
  await bench.until(() => bench.arrived.length === 2, "the well-formed messages");
  deepEqual(bench.arrived.map((a) => a.data.toHex()), [random.toHex(), "070809"]);
  equal((await relayed).code, null);
});

Deno.test(
  { name: "a stream that never reads: WireGuard's datagrams for it are dropped, memory stays", ignore },
  async () => {
    // WireGuard's port is a separate process here, which floods the stream's socket with 80,000 datagrams of 1,300
    // bytes (104 MB) once the stream's first datagram shows it where that is.
    const flooder = new Deno.Command(PYTHON, { args: [NODE, "flood", "80000"], stdout: "piped" }).spawn();
    const lines = lineReader(flooder.stdout);
    const { port } = JSON.parse(await lines.next());
    await using bench = await Bench.start({ wireguardPort: port });
    const before = heldBytes();
    const result = bench.stream(VIRTUAL, [{ data: bytes(32, 1) }], 8, "no-read");
    const { sent } = JSON.parse(await lines.next());
    await lines.cancel();
    await flooder.status;
    await new Promise((resolve) => setTimeout(resolve, 200));
    const grown = heldBytes() - before;
    const { datagramsOut, droppedSlowReader } = bench.tunnel.counters;
    console.log(
      `never-reading stream: ${sent} datagrams sent to its socket, ${datagramsOut} written to the stream, ` +
        `${droppedSlowReader} dropped from its ring; memory held grew ${(grown / 2 ** 20).toFixed(1)} MiB`,
    );
    // Far more was offered than the server could have kept within the bound below.
    ok(droppedSlowReader * 1300 > 2 * MEMORY_BOUND, `the relay dropped what the stream could not take`);
    ok(datagramsOut < 10_000, `only what the client's flow-control window takes was written: ${datagramsOut}`);
    ok(grown < MEMORY_BOUND, `the server did not keep what it could not send (${grown} bytes more)`);
    // Once the client reads, it gets what was written and what the ring kept: nothing else was held for it.
    // (grpc-js buffers up to 16 messages on the stream besides.)
    const after = await result;
    ok(after.received >= datagramsOut, `the client got what was written: ${after.received}`);
    ok(after.received <= datagramsOut + OUTBOUND_RING + 16, `and at most the ring besides: ${after.received}`);
  },
);

/**
 * TLS on a gRPC listener (`src/grpc/tls_*.ts`) against real clients and a real CA made with openssl: the pair's
 * checks, Python grpcio (ALPN h2) and a Talos < 1.9 client (no ALPN, Python ssl + h2) answered, clients that do
 * not speak TLS with h2 refused while the server keeps answering (the server runs in a child process under
 * glibc's malloc checks), and a pair rotated on disk, in place or by a Kubernetes Secret's symlink swap, served
 * to the next connection while a half-rotated pair is not taken.
 *
 * @module
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { startGrpcServer } from "../src/grpc/server.ts";
import { HANDSHAKE_TIMEOUT_MS } from "../src/grpc/tls_accept.ts";
import { dialHost, readTlsPair } from "../src/grpc/tls_pair.ts";
import { ReloadingTlsPair } from "../src/grpc/tls_reload.ts";
import { UserError } from "../src/errors.ts";
import { MALLOC_DEBUG, spawnTestServer } from "./support/grpc_test_server.ts";
import { run } from "./support/netns.ts";
import { hasPythonModules, onPath, PYTHON, skipUnless } from "./support/requirements.ts";
import { OPENSSL, servedSerial, TestCa } from "./support/test_ca.ts";

const TALOS_NODE = new URL("./support/talos_node.py", import.meta.url).pathname;
const NODE_CLIENT = new URL("./support/grpc_node_client.mjs", import.meta.url).pathname;

const PYTHON_CLIENTS: [boolean, string] = [
  hasPythonModules("grpc, grpc_tools.protoc, h2"),
  "Python grpcio, grpc_tools and h2 (apt-get install python3-grpcio python3-grpc-tools python3-h2)",
];
const CURL: [boolean, string] = [onPath("curl"), "curl (apt-get install curl)"];

/** Runs a command, returning its exit code and output instead of throwing. */
async function attempt(command: string, args: string[], env: Record<string, string> = {}) {
  const { code, stdout, stderr } = await new Deno.Command(command, { args, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}

/** Sends `bytes` on `connection` and reads until the server closes it; fails if it stays open `limitMs`. */
async function untilClosed(connection: Deno.Conn, bytes: Uint8Array, limitMs = 10_000): Promise<Uint8Array> {
  await connection.write(bytes);
  const received: number[] = [];
  const buffer = new Uint8Array(4096);
  let timedOut = false;
  const timer = setTimeout(() => (timedOut = true, connection.close()), limitMs);
  try {
    for (let n; (n = await connection.read(buffer)) !== null;) received.push(...buffer.subarray(0, n));
    connection.close();
  } catch (error) {
    if (timedOut) throw new Error(`the server kept the connection open for ${limitMs} ms`);
    if (!(error instanceof Deno.errors.ConnectionReset)) throw error;
  } finally {
    clearTimeout(timer);
  }
  return new Uint8Array(received);
}

Deno.test({
  name: "TLS pair: each unusable pair is named in one line; an RSA PKCS#1 key with a chain is taken",
  ignore: skipUnless("TLS pair checks", OPENSSL),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const rsa = await ca.issue("rsa", ["api.siderolink.test"], "rsa");
    const ec = await ca.issue("ec", ["localhost", "127.0.0.1"]);
    const chain = join(ca.dir, "chain.crt");
    await Deno.writeTextFile(chain, (await Deno.readTextFile(rsa.certFile)) + (await Deno.readTextFile(ca.caFile)));
    const garbage = join(ca.dir, "garbage.pem");
    await Deno.writeTextFile(
      garbage,
      "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n",
    );
    const encrypted = join(ca.dir, "encrypted.key");
    await run("openssl", ["pkey", "-in", ec.keyFile, "-aes256", "-passout", "pass:x", "-out", encrypted]);

    const pair = await readTlsPair({ certFile: chain, keyFile: rsa.keyFile });
    assert.equal(pair.certificate.serialNumber, rsa.serial);
    assert.equal(dialHost(pair, "203.0.113.10"), "api.siderolink.test", "an address the certificate does not name");
    assert.equal(dialHost(await readTlsPair(ec), "127.0.0.1"), "127.0.0.1", "an address it names");

    const cases: [string, string, RegExp][] = [
      [join(ca.dir, "missing.crt"), ec.keyFile, /^cannot read TLS certificate .*missing\.crt: No such file/],
      [ec.keyFile, ec.keyFile, /^TLS certificate .*ec\.key holds no PEM certificate$/],
      [garbage, ec.keyFile, /^TLS certificate .*garbage\.pem is not a valid certificate: /],
      [ec.certFile, ec.certFile, /^TLS key .*ec\.crt holds no PEM private key$/],
      [ec.certFile, encrypted, /^TLS key .*encrypted\.key is encrypted: give the key unencrypted/],
      [ec.certFile, rsa.keyFile, /^TLS key .*rsa\.key does not belong to the certificate in .*ec\.crt$/],
    ];
    for (const [certFile, keyFile, message] of cases) {
      const error = await readTlsPair({ certFile, keyFile }).then(() => undefined, (error) => error);
      assert.ok(error instanceof UserError, `${certFile} + ${keyFile}: ${error}`);
      assert.match(error.message, message);
      assert.equal(error.message.split("\n").length, 1);
    }
  },
});

Deno.test({
  name: "TLS listener: ALPN h2 and no ALPN answered; h2c, HTTP/1.1 and plaintext refused; the server keeps answering",
  ignore: skipUnless("TLS listener and clients", OPENSSL, PYTHON_CLIENTS, CURL, MALLOC_DEBUG),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const issued = await ca.issue("api", ["localhost", "127.0.0.1"]);
    await using server = await spawnTestServer({ tls: issued });
    // A client that connects and never starts the handshake: closed after HANDSHAKE_TIMEOUT_MS (checked last).
    const silent = await Deno.connect({ hostname: "127.0.0.1", port: server.port });
    const silentSince = Date.now();
    const api = `https://127.0.0.1:${server.port}`;
    const env = { TLS_CA_FILE: ca.caFile };
    const provision = async (command: string, uuid: string) => {
      const result = await attempt(PYTHON, [TALOS_NODE, command, api, uuid, ""], env);
      assert.equal(result.code, 0, result.stderr);
      return JSON.parse(result.stdout);
    };

    // Python grpcio, which offers ALPN h2 and checks the certificate against the test's CA only.
    assert.deepEqual((await provision("provision", "grpcio")).server_endpoint, ["grpcio"]);
    // Talos before 1.9: TLS without ALPN, then HTTP/2 all the same.
    const old = await provision("provision-without-alpn", "no-alpn");
    assert.deepEqual([old.server_endpoint, old.alpn], [["no-alpn"], null]);

    // grpc-js without TLS (h2c prior knowledge) on the TLS port: every call fails, nothing hangs.
    const h2c = await attempt(Deno.execPath(), ["run", "-A", NODE_CLIENT, `127.0.0.1:${server.port}`, "3", "1"]);
    assert.deepEqual(JSON.parse(h2c.stdout.trim()), { calls: 0, failed: 3, peers: [] });
    // The raw HTTP/2 preface, and a plaintext HTTP/1.1 request: the connection is closed.
    for (const text of ["PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"]) {
      const reply = await untilClosed(await Deno.connect({ hostname: "127.0.0.1", port: server.port }), encode(text));
      assert.deepEqual([reply.length, reply[0], reply[5]], [7, ALERT, FATAL], `one fatal TLS alert: ${reply}`);
    }
    // curl --http1.1 offers ALPN http/1.1 only: refused in the handshake with the no_application_protocol alert.
    const curl = await attempt("curl", [
      "--http1.1",
      "--cacert",
      ca.caFile,
      "-sS",
      `https://localhost:${server.port}/`,
    ]);
    assert.notEqual(curl.code, 0);
    assert.match(curl.stderr, /no application protocol/i);
    // HTTP/1.1 inside TLS without ALPN gets as far as HTTP/2, which answers with SETTINGS and GOAWAY and closes.
    const tls = await Deno.connectTls({
      hostname: "127.0.0.1",
      port: server.port,
      caCerts: [await Deno.readTextFile(ca.caFile)],
    });
    const http1 = await untilClosed(tls, encode("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"));
    assert.deepEqual(frameTypes(http1), [SETTINGS, GOAWAY]);

    assert.deepEqual(await untilClosed(silent, new Uint8Array(), HANDSHAKE_TIMEOUT_MS + 5_000), new Uint8Array());
    assert.ok(Date.now() - silentSince >= HANDSHAKE_TIMEOUT_MS - 1_000, "closed by the handshake timeout");
    assert.ok(server.alive(), "the server survived every refused client");
    assert.deepEqual((await provision("provision", "after")).server_endpoint, ["after"]);
  },
});

/** A TLS listener on 127.0.0.1 (no services: only the handshake matters) following `files`. */
async function reloadingServer(files: { certFile: string; keyFile: string }) {
  const tls = await ReloadingTlsPair.open(files);
  const server = await startGrpcServer({ host: "127.0.0.1", port: 0, services: [], tls });
  return {
    tls,
    port: server.port,
    /** The serial the next connection is served. */
    served: () => servedSerial("127.0.0.1", server.port),
    /** Runs `change` and waits for the reload it causes. */
    async change(change: () => Promise<void>) {
      const reloaded = tls.nextReload();
      await change();
      await reloaded;
    },
    [Symbol.asyncDispose]: async () => {
      await server.shutdown();
      tls[Symbol.dispose]();
    },
  };
}

Deno.test({
  name: "TLS reload: a Kubernetes Secret's symlink swap is served to the next connection; an open one goes on",
  ignore: skipUnless("TLS reload, symlink swap", OPENSSL),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const names = ["localhost", "127.0.0.1"];
    const [first, second] = await Promise.all([ca.issue("first", names), ca.issue("second", names)]);
    // As the kubelet mounts a Secret: tls.crt -> ..data/tls.crt, ..data -> ..<version>/, swapped by a rename.
    const mount = join(ca.dir, "mount");
    const publish = async (version: string, pair: { certFile: string; keyFile: string }) => {
      await Deno.mkdir(join(mount, version), { recursive: true });
      await Deno.copyFile(pair.certFile, join(mount, version, "tls.crt"));
      await Deno.copyFile(pair.keyFile, join(mount, version, "tls.key"));
      await Deno.symlink(version, join(mount, "..data_tmp"));
      await Deno.rename(join(mount, "..data_tmp"), join(mount, "..data"));
    };
    await publish("..v1", first);
    await Deno.symlink("..data/tls.crt", join(mount, "tls.crt"));
    await Deno.symlink("..data/tls.key", join(mount, "tls.key"));

    await using server = await reloadingServer({ certFile: join(mount, "tls.crt"), keyFile: join(mount, "tls.key") });
    assert.equal(await server.served(), first.serial);
    // An HTTP/2 connection made before the swap goes on after it.
    using before = await Http2Connection.open(server.port, ca.caFile);
    assert.ok(await before.ping(), "answered before the swap");
    await server.change(() => publish("..v2", second));
    assert.equal(await server.served(), second.serial);
    assert.ok(await before.ping(), "the connection from before the swap is still answered");
  },
});

Deno.test({
  name: "TLS reload: files replaced in place one after the other; half a pair and garbage are not taken",
  ignore: skipUnless("TLS reload, in place", OPENSSL),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const [first, second, third] = await Promise.all(
      ["first", "second", "third"].map((label) => ca.issue(label, ["localhost"])),
    );
    const files = { certFile: join(ca.dir, "live", "tls.crt"), keyFile: join(ca.dir, "live", "tls.key") };
    await Deno.mkdir(join(ca.dir, "live"));
    await Deno.copyFile(first.certFile, files.certFile);
    await Deno.copyFile(first.keyFile, files.keyFile);

    await using server = await reloadingServer(files);
    assert.equal(await server.served(), first.serial);
    await server.change(() => Deno.copyFile(second.certFile, files.certFile));
    assert.equal(await server.served(), first.serial, "the new certificate without its key is not taken");
    await server.change(() => Deno.copyFile(second.keyFile, files.keyFile));
    assert.equal(await server.served(), second.serial, "with its key it is");

    await server.change(() => Deno.writeTextFile(files.certFile, "garbage"));
    assert.equal(await server.served(), second.serial, "garbage is not taken");
    await server.change(async () => {
      await Deno.copyFile(third.keyFile, files.keyFile);
      await Deno.copyFile(third.certFile, files.certFile);
    });
    assert.equal(await server.served(), third.serial);
    assert.equal(server.tls.current.certificate.serialNumber, third.serial);
  },
});

/** A TLS alert record's content type, and the level of a fatal one (RFC 8446 §5.1, §6). */
const ALERT = 0x15;
const FATAL = 2;

/** HTTP/2 frame types (RFC 9113 §6) and the ACK flag of SETTINGS and PING. */
const SETTINGS = 0x4;
const PING = 0x6;
const GOAWAY = 0x7;
const ACK = 0x1;

/** One HTTP/2 frame: 24-bit length, type, flags, stream 0 (connection frames only here), payload. */
function frame(type: number, flags: number, payload = new Uint8Array()): Uint8Array {
  const bytes = new Uint8Array(9 + payload.length);
  bytes.set([payload.length >> 16, (payload.length >> 8) & 0xff, payload.length & 0xff, type, flags]);
  bytes.set(payload, 9);
  return bytes;
}

/** A bare HTTP/2 client connection over TLS (ALPN h2) that can only ping: enough to show the connection lives. */
class Http2Connection implements Disposable {
  readonly #connection: Deno.TlsConn;
  #buffered = new Uint8Array();
  #pings = 0;

  private constructor(connection: Deno.TlsConn) {
    this.#connection = connection;
  }

  /** Connects, trusting `caFile`, and sends the client preface and empty SETTINGS. */
  static async open(port: number, caFile: string): Promise<Http2Connection> {
    const connection = await Deno.connectTls({
      hostname: "127.0.0.1",
      port,
      caCerts: [await Deno.readTextFile(caFile)],
      alpnProtocols: ["h2"],
    });
    await connection.write(encode("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"));
    await connection.write(frame(SETTINGS, 0));
    return new Http2Connection(connection);
  }

  /** Sends a PING; resolves true when its ACK arrives, false when the server closes first or after 10 s. */
  async ping(): Promise<boolean> {
    const payload = new Uint8Array(8);
    new DataView(payload.buffer).setUint32(4, ++this.#pings);
    await this.#connection.write(frame(PING, 0, payload));
    const timer = setTimeout(() => this.#connection.close(), 10_000);
    try {
      for (const chunk = new Uint8Array(16_384);;) {
        while (this.#buffered.length >= 9) {
          const length = (this.#buffered[0] << 16) | (this.#buffered[1] << 8) | this.#buffered[2];
          if (this.#buffered.length < 9 + length) break;
          const [type, flags] = [this.#buffered[3], this.#buffered[4]];
          const body = this.#buffered.slice(9, 9 + length);
          this.#buffered = this.#buffered.slice(9 + length);
          // The server's SETTINGS must be acknowledged, or it may end the connection.
          if (type === SETTINGS && !(flags & ACK)) await this.#connection.write(frame(SETTINGS, ACK));
          if (type === PING && flags & ACK && body.every((byte, i) => byte === payload[i])) return true;
        }
        const n = await this.#connection.read(chunk);
        if (n === null) return false;
        const joined = new Uint8Array(this.#buffered.length + n);
        joined.set(this.#buffered);
        joined.set(chunk.subarray(0, n), this.#buffered.length);
        this.#buffered = joined;
      }
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }

  [Symbol.dispose](): void {
    try {
      this.#connection.close();
    } catch {
      // Already closed.
    }
  }
}

/** The types of the HTTP/2 frames in `bytes`, in order (each frame: 24-bit length, type, flags, stream id). */
function frameTypes(bytes: Uint8Array): number[] {
  const types: number[] = [];
  for (let at = 0; at + 9 <= bytes.length; at += 9 + ((bytes[at] << 16) | (bytes[at + 1] << 8) | bytes[at + 2])) {
    types.push(bytes[at + 3]);
  }
  return types;
}

function encode(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

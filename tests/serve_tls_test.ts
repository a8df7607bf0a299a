/**
 * `serve --api-tls-cert/--api-tls-key` against a real serve (userspace backend) in a test namespace: machines
 * provision over TLS with Python grpcio and as a Talos < 1.9 would (no ALPN), the start-up line gives the
 * `https://` endpoint, a certificate rotated by a Kubernetes Secret's symlink swap is served to the next
 * connection without closing the listener, a rotation to a mismatched pair is logged once and not taken. Also
 * the flag errors: one flag alone, an unreadable file, a key of another certificate, each one line.
 *
 * @module
 */

import { equal, match, ok } from "node:assert/strict";
import { join } from "node:path";
import { formatKey, generatePrivateKey, publicKeyOf } from "../src/keys.ts";
import { runCli } from "./support/cli.ts";
import { NetNs } from "./support/netns.ts";
import { hasPythonModules, isRoot, onPath, PYTHON, skipUnless } from "./support/requirements.ts";
import { ServeProcess } from "./support/serve_process.ts";
import { type IssuedCertificate, OPENSSL, servedSerial, TestCa } from "./support/test_ca.ts";

const TALOS_NODE = new URL("./support/talos_node.py", import.meta.url).pathname;
const ADDRESS = "fd5e:8::1";
const API = `https://[${ADDRESS}]:8081`;
const TOKEN = "tls-token";

/**
 * A folder laid out as the kubelet mounts a Secret: `tls.crt` -> `..data/tls.crt`, `..data` -> `..<version>/`;
 * {@link SecretMount.publish} swaps `..data` by a rename, as the kubelet does on an update.
 */
class SecretMount {
  readonly dir: string;
  readonly certFile: string;
  readonly keyFile: string;
  #versions = 0;

  constructor(dir: string) {
    this.dir = dir;
    this.certFile = join(dir, "tls.crt");
    this.keyFile = join(dir, "tls.key");
  }

  async publish(cert: IssuedCertificate, key: IssuedCertificate = cert): Promise<void> {
    const version = `..v${++this.#versions}`;
    await Deno.mkdir(join(this.dir, version), { recursive: true });
    await Deno.copyFile(cert.certFile, join(this.dir, version, "tls.crt"));
    await Deno.copyFile(key.keyFile, join(this.dir, version, "tls.key"));
    await Deno.symlink(version, join(this.dir, "..data_tmp"));
    await Deno.rename(join(this.dir, "..data_tmp"), join(this.dir, "..data"));
    if (this.#versions === 1) {
      await Deno.symlink("..data/tls.crt", this.certFile);
      await Deno.symlink("..data/tls.key", this.keyFile);
    }
  }
}

Deno.test({
  name: "serve --api-tls-*: one flag alone, an unreadable certificate, a key of another one: one line each",
  ignore: skipUnless("serve TLS flag errors", OPENSSL),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const [api, other] = await Promise.all([ca.issue("api", ["localhost"]), ca.issue("other", ["localhost"])]);
    const base = ["serve", "--state-dir", join(ca.dir, "state"), "--wireguard-endpoint", "127.0.0.1:51821"];
    const config = join(ca.dir, "serve.yaml");
    await Deno.writeTextFile(config, `api-tls-cert: ${join(ca.dir, "missing.crt")}\n`);
    const cases: [string[], Record<string, string>, number, RegExp][] = [
      [[...base, "--api-tls-cert", api.certFile], {}, 2, /^siderolink: --api-tls-cert needs --api-tls-key/],
      [base, { SIDEROLINK_API_TLS_KEY: api.keyFile }, 2, /^siderolink: --api-tls-key needs --api-tls-cert/],
      [
        [...base, "--config", config, "--api-tls-key", api.keyFile],
        {},
        1,
        /^siderolink: cannot read TLS certificate .*missing\.crt: No such file/,
      ],
      [
        [...base, "--api-tls-cert", api.certFile, "--api-tls-key", other.keyFile],
        {},
        1,
        /^siderolink: TLS key .*other\.key does not belong to the certificate in .*api\.crt$/m,
      ],
    ];
    for (const [args, env, code, message] of cases) {
      const result = await runCli(args, env);
      equal(result.code, code, `${args.join(" ")}: ${result.stderr}`);
      match(result.stderr, message);
      equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    }
    // Nothing was set up: the state folder was never made.
    equal(await Deno.stat(join(ca.dir, "state")).then(() => true, () => false), false);
  },
});

Deno.test({
  name: "serve over TLS: grpcio and a Talos < 1.9 provision; a rotated Secret reaches the next connection",
  ignore: skipUnless(
    "serve over TLS",
    [isRoot(), "root (network namespaces, TUN devices)"],
    [onPath("wireguard-go"), "wireguard-go (apt-get install wireguard-go)"],
    [onPath("wg"), "wg (apt-get install wireguard-tools)"],
    OPENSSL,
    [
      hasPythonModules("grpc, grpc_tools.protoc, h2"),
      "Python grpcio and h2 (apt-get install python3-grpcio python3-grpc-tools python3-h2)",
    ],
  ),
  fn: async () => {
    await using ca = await TestCa.temporary();
    const names = ["api.siderolink.test", ADDRESS];
    const [first, second, third] = await Promise.all(
      ["first", "second", "third"].map((label) => ca.issue(label, names, label === "first" ? "rsa" : "ec")),
    );
    const mount = new SecretMount(join(ca.dir, "secret"));
    await mount.publish(first);
    const iface = `slt${Deno.pid % 100000}`;
    await using ns = await NetNs.create("tls");
    await ns.exec("ip", ["-6", "addr", "add", `${ADDRESS}/64`, "dev", "lo", "nodad"]);

    // The certificate from a flag, the key from the environment: layered like every other setting.
    const serve = await ServeProcess.start([
      ...["--state-dir", join(ca.dir, "state"), "--control-socket", join(ca.dir, "control.sock")],
      ...["--wireguard-endpoint", `[${ADDRESS}]:51821`, "--wireguard-backend", "userspace", "--interface", iface],
      ...["--api-listen", `[${ADDRESS}]:8081`, "--join-token", TOKEN, "--api-tls-cert", mount.certFile],
    ], { ns, env: { SIDEROLINK_API_TLS_KEY: mount.keyFile } });
    try {
      const serving = serve.stderr.find((line) => line.includes("serving"))!;
      match(serving, new RegExp(`"provisionApi":"https://\\[${ADDRESS}\\]:8081"`));
      match(serving, new RegExp(`"provisionApiTls":"serial ${first.serial}, valid until `));
      match(serving, new RegExp(`siderolink\\.api=https://\\[${ADDRESS}\\]:8081 `));

      const provision = async (command: string, uuid: string) => {
        const key = formatKey(await publicKeyOf(generatePrivateKey()));
        const env = `TLS_CA_FILE=${ca.caFile}`;
        const reply = JSON.parse(await ns.exec("env", [env, PYTHON, TALOS_NODE, command, API, uuid, key, TOKEN]));
        match(reply.node_address_prefix ?? JSON.stringify(reply), /^fd[0-9a-f:]+\/64$/, `${command} ${uuid}`);
        ok((await ns.exec("wg", ["show", iface, "peers"])).includes(key), `the peer of ${uuid} is on the device`);
        return reply;
      };
      await provision("provision", "11111111-1111-4111-8111-111111111111");
      equal((await provision("provision-without-alpn", "22222222-2222-4222-8222-222222222222")).alpn, null);
      equal(await servedSerial(ADDRESS, 8081, ns), first.serial);

      // serve's TLS log records at one level (stderr is JSON lines: it is no terminal).
      const tlsLog = (level: string) =>
        serve.stderr.filter((line) => line.includes('"logger":"siderolink.grpc.tls"'))
          .map((line) => JSON.parse(line)).filter((record) => record.level === level);

      // The Secret is updated: the next connection gets the new certificate, on the same listener.
      await mount.publish(second);
      await serve.waitFor(() => tlsLog("INFO").length === 1, 10_000, "the reload");
      equal(await servedSerial(ADDRESS, 8081, ns), second.serial);
      await provision("provision", "33333333-3333-4333-8333-333333333333");

      // An update whose key is not the certificate's: logged once, also across more changes, and not taken.
      await mount.publish(third, second);
      await serve.waitFor(() => tlsLog("ERROR").length > 0, 10_000, "the refused reload");
      await mount.publish(third, first);
      await Deno.writeTextFile(join(mount.dir, "unrelated"), "an event in the folder");
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      equal(await servedSerial(ADDRESS, 8081, ns), second.serial);
      equal(tlsLog("ERROR").length, 1, JSON.stringify(tlsLog("ERROR")));
      const { certificate, error } = tlsLog("ERROR")[0].properties;
      match(certificate, new RegExp(`^serial ${second.serial}, `));
      match(error, /^TLS key .*tls\.key does not belong to the certificate in .*tls\.crt$/);
      await provision("provision", "44444444-4444-4444-8444-444444444444");
      await mount.publish(third);
      await serve.waitFor(() => tlsLog("INFO").length === 2, 10_000, "the second reload");
      equal(await servedSerial(ADDRESS, 8081, ns), third.serial);

      equal(await serve.stop(), 0);
      // No private key in anything serve printed: take a base64 line from the middle of each key file.
      for (const issued of [first, second, third]) {
        const keyLine = (await Deno.readTextFile(issued.keyFile)).split("\n")[2];
        ok(![...serve.stdout, ...serve.stderr].some((line) => line.includes(keyLine)), `${issued.keyFile} printed`);
      }
    } finally {
      await serve.stop("SIGKILL");
    }
  },
});

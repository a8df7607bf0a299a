import { deepEqual, equal, throws } from "node:assert/strict";
import { join } from "node:path";
import { stringify } from "yaml";
import { UserError } from "../errors.ts";
import { resolveConnection } from "./connection.ts";

const CA = "-----BEGIN CERTIFICATE-----\nY2E=\n-----END CERTIFICATE-----\n";
const CERT = "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n";
const KEY = "-----BEGIN PRIVATE KEY-----\na2V5\n-----END PRIVATE KEY-----\n";
const b64 = (text: string) => new TextEncoder().encode(text).toBase64();

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown>, extra = {}) {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    "current-context": "ctx",
    contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }],
    clusters: [{ name: "c", cluster: { server: "https://127.0.0.1:6443/", ...cluster } }],
    users: [{ name: "u", user }],
    ...extra,
  });
}

function folder(files: Record<string, string>): string {
  const dir = Deno.makeTempDirSync();
  for (const [name, text] of Object.entries(files)) Deno.writeTextFileSync(join(dir, name), text);
  return dir;
}

function rejected(pattern: RegExp) {
  return (error: unknown) => error instanceof UserError && pattern.test(error.message);
}

Deno.test("kubeconfig: inline token and CA data; the server without its trailing slash", () => {
  const dir = folder({ config: kubeconfig({ token: "t0ken" }, { "certificate-authority-data": b64(CA) }) });
  const connection = resolveConnection(join(dir, "config"), {});
  equal(connection.server, "https://127.0.0.1:6443");
  equal(connection.caPem, CA);
  equal(connection.token?.(), "t0ken");
  equal(connection.clientCertificate, undefined);
});

Deno.test("kubeconfig: client certificate, CA and token files relative to the kubeconfig", () => {
  const dir = folder({
    "ca.crt": CA,
    "client.crt": CERT,
    "client.key": KEY,
    token: "from-file\n",
    config: kubeconfig({ "client-certificate": "client.crt", "client-key": "client.key", tokenFile: "token" }, {
      "certificate-authority": "ca.crt",
    }),
  });
  const connection = resolveConnection(undefined, { KUBECONFIG: join(dir, "config") });
  equal(connection.caPem, CA);
  deepEqual(connection.clientCertificate, { cert: CERT, key: KEY });
  equal(connection.token?.(), "from-file");
  Deno.writeTextFileSync(join(dir, "token"), "rotated");
  equal(connection.token?.(), "from-file", "read again only after a minute");
  equal(connection.token?.(true), "rotated", "or when asked after a 401");
});

Deno.test("KUBECONFIG lists several files; the first to define a name wins", () => {
  const first = folder({
    config: stringify({ "current-context": "ctx", contexts: [{ name: "ctx", context: { cluster: "c", user: "u" } }] }),
  });
  const second = folder({ config: kubeconfig({ token: "second" }, {}) });
  const connection = resolveConnection(undefined, { KUBECONFIG: `${join(first, "config")}:${join(second, "config")}` });
  equal(connection.token?.(), "second");
});

Deno.test("kubeconfig problems are one line naming the file and what is wrong", () => {
  const cases: [string, RegExp][] = [
    [kubeconfig({ exec: { command: "aws" } }, {}), /user "u" uses exec, which is not supported/],
    [kubeconfig({ "client-certificate-data": b64(CERT) }, {}), /needs both client-certificate and client-key/],
    [kubeconfig({}, { "insecure-skip-tls-verify": true }), /insecure-skip-tls-verify is not supported/],
    [
      kubeconfig({}, { "certificate-authority": "missing.crt" }),
      /cannot read cluster "c" certificate-authority .*missing\.crt/,
    ],
    [kubeconfig({}, {}, { "current-context": "other" }), /current-context "other" is not defined/],
    ["clusters: 3\n", /clusters must be a list/],
    ["{", /not YAML/],
  ];
  for (const [text, pattern] of cases) {
    const dir = folder({ config: text });
    throws(() => resolveConnection(join(dir, "config"), {}), rejected(pattern), pattern.source);
  }
  throws(() => resolveConnection("/nonexistent/kubeconfig", {}), rejected(/cannot read kubeconfig \/nonexistent/));
  throws(() => resolveConnection(undefined, {}), rejected(/no cluster to talk to/));
});

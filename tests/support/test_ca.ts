/**
 * A certificate authority for TLS tests, made with the real `openssl` (Debian's package): a CA, and server
 * certificates it signs for the names and addresses a test dials, each with its own serial.
 *
 * @module
 */

import { join } from "node:path";
import { formatHostPort } from "../../src/hostport.ts";
import { type NetNs, run } from "./netns.ts";
import { onPath } from "./requirements.ts";

/** The `skipUnless` requirement of tests that make certificates with this module. */
export const OPENSSL: [boolean, string] = [onPath("openssl"), "openssl (apt-get install openssl)"];

/** A server certificate and its key, as files, with what `openssl x509` says about the certificate. */
export interface IssuedCertificate {
  certFile: string;
  keyFile: string;
  /** Upper-case hex, as `openssl x509 -serial` and `X509Certificate.serialNumber` print it. */
  serial: string;
}

/** A CA in a folder of its own; `caFile` is what clients trust. */
export class TestCa implements AsyncDisposable {
  readonly dir: string;
  readonly caFile: string;
  #issued = 0;

  private constructor(dir: string) {
    this.dir = dir;
    this.caFile = join(dir, "ca.pem");
  }

  /** Makes a CA (EC P-256, one day) in `dir`; disposing it removes `dir`. */
  static async create(dir: string): Promise<TestCa> {
    const ca = new TestCa(dir);
    await run("openssl", [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"],
      ...["-subj", "/CN=siderolink test CA", "-keyout", join(dir, "ca.key"), "-out", ca.caFile],
    ]);
    return ca;
  }

  /** Makes a CA in a new temporary folder, which disposing it removes. */
  static async temporary(): Promise<TestCa> {
    return await TestCa.create(await Deno.makeTempDir({ prefix: "siderolink-ca-" }));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await Deno.remove(this.dir, { recursive: true });
  }

  /**
   * Issues a server certificate for `names` (DNS names and IP addresses, as subjectAltName entries) into new
   * files `<label>.crt` and `<label>.key` in the CA's folder; `keyType` `rsa` gives a PKCS#1 RSA key, as
   * cert-manager writes by default, `ec` a PKCS#8 EC key.
   */
  async issue(label: string, names: string[], keyType: "rsa" | "ec" = "ec"): Promise<IssuedCertificate> {
    const certFile = join(this.dir, `${label}.crt`);
    const keyFile = join(this.dir, `${label}.key`);
    const csr = join(this.dir, `${label}.csr`);
    const extensions = join(this.dir, `${label}.ext`);
    const san = names.map((name) => (/^[\d.]+$|:/.test(name) ? `IP:${name}` : `DNS:${name}`)).join(",");
    await Deno.writeTextFile(extensions, `subjectAltName=${san}\nextendedKeyUsage=serverAuth\n`);
    const newKey = keyType === "rsa"
      ? ["-newkey", "rsa:2048"]
      : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];
    await run("openssl", ["req", ...newKey, "-nodes", "-subj", `/CN=${names[0]}`, "-keyout", keyFile, "-out", csr]);
    if (keyType === "rsa") await run("openssl", ["rsa", "-in", keyFile, "-traditional", "-out", keyFile]);
    const serial = (0x1000 + ++this.#issued).toString(16).toUpperCase();
    await run("openssl", [
      ...["x509", "-req", "-in", csr, "-CA", this.caFile, "-CAkey", join(this.dir, "ca.key"), "-days", "1"],
      ...["-set_serial", `0x${serial}`, "-extfile", extensions, "-out", certFile],
    ]);
    return { certFile, keyFile, serial };
  }
}

/**
 * The serial of the certificate a TLS server at `host:port` presents to `openssl s_client` (offering ALPN `h2`,
 * as gRPC clients do), run inside `ns` when given.
 */
export async function servedSerial(host: string, port: number, ns?: NetNs): Promise<string> {
  const args = ["s_client", "-connect", formatHostPort(host, port), "-alpn", "h2"];
  const pem = ns ? await ns.exec("openssl", args, { stdin: "" }) : await run("openssl", args, { stdin: "" });
  return (await run("openssl", ["x509", "-noout", "-serial"], { stdin: pem })).trim().replace(/^serial=/, "");
}

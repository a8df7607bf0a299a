/**
 * A TLS certificate and its private key, read from PEM files and checked before they are served.
 *
 * Why the checks are ours: the runtime's `tls.createSecureContext` accepts any bytes and only the handshake
 * would fail, connection after connection. So the certificate is parsed, the key is parsed, and the key must
 * belong to the certificate; what fails is named in one line.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { createSecureContext, type SecureContext } from "node:tls";
import { UsageError, UserError } from "../errors.ts";

/** Where a certificate and its key are read from. */
export interface TlsFiles {
  /** PEM: the server certificate first, then any intermediates. */
  certFile: string;
  /** PEM: the private key, unencrypted (PKCS#8, PKCS#1 or SEC1). */
  keyFile: string;
}

/** A checked certificate and key, ready for new connections. */
export interface TlsPair {
  /** The PEM text of both files, as read. */
  readonly cert: string;
  readonly key: string;
  readonly secureContext: SecureContext;
  /** The server certificate (the first in the certificate file): serial, expiry, names. */
  readonly certificate: X509Certificate;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;
const PEM_PRIVATE_KEY = /-----BEGIN ((?:RSA |EC |ENCRYPTED )?PRIVATE KEY)-----/;

/**
 * The files of `--api-tls-cert` and `--api-tls-key`: both or neither; one alone is a usage error naming the other.
 *
 * @example
 * ```ts
 * apiTlsFiles("/tls/tls.crt", "/tls/tls.key"); // { certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" }
 * apiTlsFiles(undefined, undefined); // undefined: cleartext
 * ```
 */
export function apiTlsFiles(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (keyFile === undefined) throw new UsageError("--api-tls-cert needs --api-tls-key (the certificate's private key)");
  if (certFile === undefined) throw new UsageError("--api-tls-key needs --api-tls-cert (the key's certificate)");
  return { certFile, keyFile };
}

/**
 * Reads and checks a pair; throws a `UserError` naming the file and what is wrong with it.
 *
 * @example
 * ```ts
 * const pair = await readTlsPair({ certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" });
 * console.log(pair.certificate.serialNumber, pair.certificate.validTo);
 * ```
 */
export async function readTlsPair(files: TlsFiles): Promise<TlsPair> {
  const [cert, key] = await Promise.all([
    readText(files.certFile, "TLS certificate"),
    readText(files.keyFile, "TLS key"),
  ]);
  const certPem = PEM_CERTIFICATE.exec(cert)?.[0];
  if (certPem === undefined) throw new UserError(`TLS certificate ${files.certFile} holds no PEM certificate`);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certPem);
  } catch (error) {
    throw new UserError(`TLS certificate ${files.certFile} is not a valid certificate: ${(error as Error).message}`);
  }
  const keyKind = PEM_PRIVATE_KEY.exec(key)?.[1];
  if (keyKind === undefined) throw new UserError(`TLS key ${files.keyFile} holds no PEM private key`);
  if (keyKind.startsWith("ENCRYPTED")) {
    throw new UserError(`TLS key ${files.keyFile} is encrypted: give the key unencrypted (mode 0600)`);
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new UserError(`TLS key ${files.keyFile} is not a usable private key: ${(error as Error).message}`);
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new UserError(`TLS key ${files.keyFile} does not belong to the certificate in ${files.certFile}`);
  }
  return { cert, key, secureContext: createSecureContext({ cert, key }), certificate };
}

/** The certificate in a few words, for logs: `serial 1A2B, valid until Mar  2 08:15:44 2027 GMT`. */
export function describeCertificate(pair: TlsPair): string {
  return `serial ${pair.certificate.serialNumber}, valid until ${pair.certificate.validTo}`;
}

/**
 * The host machines should dial for `host`: `host` itself when the certificate names it, else the certificate's
 * first DNS name, since Talos checks the name it dials against the certificate.
 *
 * @example
 * ```ts
 * dialHost(pair, "203.0.113.10"); // "siderolink.example.com" for a certificate naming only that
 * ```
 */
export function dialHost(pair: TlsPair, host: string): string {
  const { certificate } = pair;
  if ((isIP(host) ? certificate.checkIP(host) : certificate.checkHost(host)) !== undefined) return host;
  const dnsName = /(?:^|, )DNS:([^,\s]+)/.exec(certificate.subjectAltName ?? "")?.[1];
  return dnsName !== undefined && !dnsName.startsWith("*") ? dnsName : host;
}

async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    throw new UserError(`cannot read ${what} ${path}: ${(error as Error).message}`);
  }
}

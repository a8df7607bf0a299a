/**
 * WireGuard keys: X25519 private keys and their public keys, as 32 raw bytes or standard base64 text.
 *
 * WebCrypto cannot import or export a raw X25519 private key, so keys cross into it as PKCS #8: a fixed
 * 16-byte prefix followed by the 32 key bytes. The public key is read back from the JWK export (`x`).
 *
 * @module
 */

import { UsageError } from "./errors.ts";

/** Length of every WireGuard key in bytes. */
export const KEY_LENGTH = 32;

// DER prefix of a PKCS #8 PrivateKeyInfo for X25519 (OID 1.3.101.110) holding a 32-byte key.
const PKCS8_X25519_PREFIX = Uint8Array.fromHex("302e020100300506032b656e04220420");

/**
 * Generates a private key the way `wg genkey` does: 32 random bytes, clamped for Curve25519.
 *
 * @example
 * ```ts
 * const privateKey = generatePrivateKey();
 * const publicKey = await publicKeyOf(privateKey);
 * ```
 */
export function generatePrivateKey(): Uint8Array {
  const key = crypto.getRandomValues(new Uint8Array(KEY_LENGTH));
  key[0] &= 248;
  key[31] = (key[31] & 127) | 64;
  return key;
}

/** Derives the public key of a 32-byte private key (what `wg pubkey` prints). */
export async function publicKeyOf(privateKey: Uint8Array): Promise<Uint8Array> {
  const pkcs8 = new Uint8Array(PKCS8_X25519_PREFIX.length + KEY_LENGTH);
  pkcs8.set(PKCS8_X25519_PREFIX);
  pkcs8.set(checkLength(privateKey, "private key"), PKCS8_X25519_PREFIX.length);
  const key = await crypto.subtle.importKey("pkcs8", pkcs8, { name: "X25519" }, true, ["deriveBits"]);
  const jwk = await crypto.subtle.exportKey("jwk", key);
  return Uint8Array.fromBase64(jwk.x!, { alphabet: "base64url" });
}

/**
 * Parses a key in standard base64 (44 characters with one `=`), throwing an error that names `what`
 * and says what was wrong.
 *
 * @example
 * ```ts
 * parseKey("nFq6V3Gd7zCUu1GSHR6h2mPd4mMD9Wk1Qbm1ZqXx2Fg=", "node_public_key");
 * ```
 */
export function parseKey(text: string, what = "key"): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = Uint8Array.fromBase64(text.trim(), { lastChunkHandling: "strict" });
  } catch {
    throw new UsageError(`${what} is not valid base64`);
  }
  return checkLength(bytes, what);
}

/** Formats a key as standard base64, as `wg` prints keys. */
export function formatKey(key: Uint8Array): string {
  return checkLength(key, "key").toBase64();
}

/** Formats a key as lowercase hex, as the WireGuard cross-platform (UAPI) protocol wants it. */
export function formatKeyHex(key: Uint8Array): string {
  return checkLength(key, "key").toHex();
}

function checkLength(key: Uint8Array, what: string): Uint8Array {
  if (key.length !== KEY_LENGTH) {
    throw new UsageError(`${what} must be ${KEY_LENGTH} bytes, got ${key.length}`);
  }
  return key;
}

import { deepEqual, equal, throws } from "node:assert/strict";
import { onPath, skipUnless } from "../tests/support/requirements.ts";
import { formatKey, formatKeyHex, generatePrivateKey, parseKey, publicKeyOf } from "./keys.ts";

// RFC 7748 §6.1: Alice's and Bob's X25519 key pairs.
const RFC7748_PAIRS = [
  [
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  ],
  [
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb",
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f",
  ],
];

Deno.test("publicKeyOf matches the RFC 7748 X25519 vectors", async () => {
  for (const [privateHex, publicHex] of RFC7748_PAIRS) {
    equal((await publicKeyOf(Uint8Array.fromHex(privateHex))).toHex(), publicHex);
  }
});

Deno.test("generated keys are clamped, distinct and 32 bytes", () => {
  const a = generatePrivateKey(), b = generatePrivateKey();
  equal(a.length, 32);
  equal(a[0] & 7, 0);
  equal(a[31] & 0xc0, 0x40);
  equal(a.toHex() === b.toHex(), false);
});

const WG_PUBKEY = "publicKeyOf agrees with `wg pubkey` on random keys";
Deno.test({
  name: WG_PUBKEY,
  ignore: skipUnless(WG_PUBKEY, [onPath("wg"), "wg (apt-get install wireguard-tools)"]),
}, async () => {
  for (let i = 0; i < 20; i++) {
    const privateKey = generatePrivateKey();
    const child = new Deno.Command("wg", { args: ["pubkey"], stdin: "piped", stdout: "piped" }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(formatKey(privateKey) + "\n"));
    await writer.close();
    const { stdout, success } = await child.output();
    equal(success, true);
    equal(new TextDecoder().decode(stdout).trim(), formatKey(await publicKeyOf(privateKey)));
  }
});

Deno.test("parseKey accepts 32 bytes of base64 and names what is wrong otherwise", () => {
  const key = generatePrivateKey();
  deepEqual(parseKey(formatKey(key)), key);
  equal(formatKeyHex(key), key.toHex());
  throws(() => parseKey("not base64!", "node_public_key"), /node_public_key is not valid base64/);
  throws(() => parseKey(new Uint8Array(31).toBase64(), "node_public_key"), /node_public_key must be 32 bytes, got 31/);
  throws(() => parseKey(new Uint8Array(33).toBase64()), /key must be 32 bytes, got 33/);
});

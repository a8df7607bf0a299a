import { deepEqual, equal, ok, throws } from "node:assert/strict";
import type { PeerConfig } from "../device.ts";
import { GENL_HDRLEN } from "./genetlink.ts";
import { type Attribute, parseAttributes, parseMessages, read } from "./parse.ts";
import { hex } from "./testing.ts";
import {
  encodeGetDevice,
  encodeSetDevice,
  MAX_SET_MESSAGE_BYTES,
  WGALLOWEDIP_A,
  WGDEVICE_A,
  WGPEER_A,
} from "./wireguard.ts";

const FAMILY = 0x1b;
const key = (byte: number) => new Uint8Array(32).fill(byte);

Deno.test("WG_CMD_GET_DEVICE dump request: golden bytes", () => {
  deepEqual(
    encodeGetDevice(FAMILY, "wg0").toHex(),
    hex(`
      1c000000 1b00 0103 00000000 00000000 // len 28, family 0x1b, REQUEST|DUMP
      00 01 0000                           // WG_CMD_GET_DEVICE, version 1
      0800 0200 77673000                   // WGDEVICE_A_IFNAME "wg0\\0"
    `).toHex(),
  );
});

Deno.test("WG_CMD_SET_DEVICE with key, port, replace-peers and two peers: golden bytes", () => {
  const messages = encodeSetDevice(FAMILY, "wg0", {
    privateKey: key(0x11),
    listenPort: 51820,
    replacePeers: true,
    peers: [
      {
        publicKey: key(0xaa),
        endpoint: "192.0.2.1:51820",
        persistentKeepaliveInterval: 25,
        allowedIPs: ["fd00::2/128"],
      },
      { publicKey: key(0xbb), remove: true },
    ],
  });
  equal(messages.length, 1);
  deepEqual(
    messages[0].toHex(),
    hex(`
      fc000000 1b00 0500 00000000 00000000 // len 252, family 0x1b, REQUEST|ACK
      01 01 0000                           // WG_CMD_SET_DEVICE, version 1
      0800 0200 77673000                   // WGDEVICE_A_IFNAME "wg0\\0"
      2400 0300 ${"11".repeat(32)}         // WGDEVICE_A_PRIVATE_KEY
      0600 0600 6cca 0000                  // WGDEVICE_A_LISTEN_PORT 51820
      0800 0500 01000000                   // WGDEVICE_A_FLAGS WGDEVICE_F_REPLACE_PEERS
      ac00 0880                            // WGDEVICE_A_PEERS (nested), 172 bytes
        7800 0080                          //   peer 0 (nested), 120 bytes
          2400 0100 ${"aa".repeat(32)}     //     WGPEER_A_PUBLIC_KEY
          0800 0300 02000000               //     WGPEER_A_FLAGS WGPEER_F_REPLACE_ALLOWEDIPS
          1400 0400 0200 ca6c c0000201 0000000000000000 // WGPEER_A_ENDPOINT sockaddr_in 192.0.2.1:51820
          0600 0500 1900 0000              //     WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL 25
          2c00 0980                        //     WGPEER_A_ALLOWEDIPS (nested)
            2800 0080                      //       allowed IP 0 (nested)
              0600 0100 0a00 0000          //         WGALLOWEDIP_A_FAMILY AF_INET6
              1400 0200 fd000000000000000000000000000002 // WGALLOWEDIP_A_IPADDR
              0500 0300 80 000000          //         WGALLOWEDIP_A_CIDR_MASK 128
        3000 0080                          //   peer 1 (nested), 48 bytes
          2400 0100 ${"bb".repeat(32)}     //     WGPEER_A_PUBLIC_KEY
          0800 0300 01000000               //     WGPEER_A_FLAGS WGPEER_F_REMOVE_ME
    `).toHex(),
  );
});

Deno.test("an IPv6 endpoint is a sockaddr_in6; no allowed-IP list leaves the allowed IPs alone", () => {
  const [message] = encodeSetDevice(FAMILY, "wg0", { peers: [{ publicKey: key(0xaa), endpoint: "[fd00::5]:443" }] });
  deepEqual(
    message.toHex(),
    hex(`
      68000000 1b00 0500 00000000 00000000 // len 104
      01 01 0000
      0800 0200 77673000
      4c00 0880                            // WGDEVICE_A_PEERS, 76 bytes
        4800 0080                          //   peer 0, 72 bytes
          2400 0100 ${"aa".repeat(32)}     // no WGPEER_A_FLAGS: nothing to replace
          2000 0400 0a00 01bb 00000000 fd000000000000000000000000000005 00000000 // sockaddr_in6 [fd00::5]:443
    `).toHex(),
  );
});

/** Reads a SET message back into plain values, to check how a batch was split. */
function decodeSet(message: Uint8Array) {
  const [{ payload }] = parseMessages(message);
  const device = parseAttributes(payload.subarray(GENL_HDRLEN));
  const find = (attributes: Attribute[], type: number) => attributes.find((a) => a.type === type);
  const peers = parseAttributes(find(device, WGDEVICE_A.PEERS)?.value ?? new Uint8Array()).map((nest) => {
    const attributes = parseAttributes(nest.value);
    const flags = find(attributes, WGPEER_A.FLAGS);
    return {
      key: find(attributes, WGPEER_A.PUBLIC_KEY)!.value.toHex(),
      flags: flags ? read.u32(flags.value, "flags") : 0,
      allowedIPs: parseAttributes(find(attributes, WGPEER_A.ALLOWEDIPS)?.value ?? new Uint8Array()).map((ip) =>
        find(parseAttributes(ip.value), WGALLOWEDIP_A.IPADDR)!.value[15]
      ),
    };
  });
  return {
    length: message.length,
    hasPrivateKey: find(device, WGDEVICE_A.PRIVATE_KEY) !== undefined,
    flags: find(device, WGDEVICE_A.FLAGS) !== undefined,
    peers,
  };
}

const peer = (i: number, ips = 1): PeerConfig => ({
  publicKey: new Uint8Array(32).fill(i % 256).map((b, j) => (j === 0 ? i >> 8 : b)),
  allowedIPs: Array.from({ length: ips }, (_, j) => `fd00::${(j % 255).toString(16)}/128`),
});

Deno.test("a large batch is split: only the first message has the key and REPLACE_PEERS, all peers are sent", () => {
  const peers = Array.from({ length: 50 }, (_, i) => peer(i));
  const messages = encodeSetDevice(FAMILY, "wg0", { privateKey: key(1), replacePeers: true, peers }, 1024);
  ok(messages.length > 1, `${messages.length} messages`);
  const decoded = messages.map(decodeSet);
  ok(decoded.every((m) => m.length <= 1024));
  deepEqual(decoded.map((m) => [m.hasPrivateKey, m.flags]), decoded.map((_, i) => [i === 0, i === 0]));
  const sent = decoded.flatMap((m) => m.peers);
  deepEqual(sent.map((p) => p.key), peers.map((p) => p.publicKey.toHex()));
  ok(sent.every((p) => p.flags === 2 && p.allowedIPs.length === 1));
});

Deno.test("a peer whose allowed IPs do not fit continues in the next message without replacing them again", () => {
  const big = peer(7, 60);
  const messages = encodeSetDevice(FAMILY, "wg0", { peers: [peer(1), big, peer(2)] }, 1024).map(decodeSet);
  ok(messages.length >= 3, `${messages.length} messages`);
  const parts = messages.flatMap((m) => m.peers).filter((p) => p.key === big.publicKey.toHex());
  ok(parts.length >= 2);
  deepEqual(parts.map((p) => p.flags), [2, ...parts.slice(1).map(() => 0)]);
  deepEqual(parts.flatMap((p) => p.allowedIPs), Array.from({ length: 60 }, (_, j) => j));
});

Deno.test("bad input is refused before anything is built, and never shows the private key", () => {
  const secret = key(0x5a);
  throws(
    () => encodeSetDevice(FAMILY, "wg0", { privateKey: secret.subarray(1) }),
    /^Error: private key must be 32 bytes, got 31$/,
  );
  throws(() => encodeSetDevice(FAMILY, "wg0", { listenPort: 70000 }), /listen port 70000 is not 0–65535/);
  throws(
    () =>
      encodeSetDevice(FAMILY, "wg0", { privateKey: secret, peers: [{ publicKey: key(1), allowedIPs: ["fd00::1"] }] }),
    (error: Error) =>
      !error.message.includes(secret.toBase64()) && /allowed IP of peer AQEB.* "fd00::1"/.test(error.message),
  );
  throws(
    () => encodeSetDevice(FAMILY, "wg0", { peers: [{ publicKey: key(1), endpoint: "example.com:51820" }] }),
    /endpoint of peer .* "example.com:51820" is not ip:port or \[ipv6\]:port/,
  );
  throws(
    () => encodeSetDevice(FAMILY, "wg0", { peers: [{ publicKey: key(1), persistentKeepaliveInterval: -1 }] }),
    /persistent keepalive interval of peer .* -1/,
  );
  throws(
    () => encodeSetDevice(FAMILY, "wg0", { peers: [{ publicKey: new Uint8Array(3) }] }),
    /peer public key must be 32 bytes/,
  );
});

Deno.test("1,000 peers in one batch: messages stay within the limit, and the time to encode them", () => {
  const peers = Array.from({ length: 1000 }, (_, i) => ({
    ...peer(i),
    allowedIPs: [`fdae:41e4:649b:9303:${(i >> 8).toString(16)}:${(i & 255).toString(16)}::/128`],
  }));
  encodeSetDevice(FAMILY, "siderolink", { peers }); // warm-up
  const rounds = 20;
  const start = performance.now();
  let messages: Uint8Array[] = [];
  for (let i = 0; i < rounds; i++) messages = encodeSetDevice(FAMILY, "siderolink", { replacePeers: true, peers });
  const milliseconds = (performance.now() - start) / rounds;
  const decoded = messages.map(decodeSet);
  ok(decoded.every((m) => m.length <= MAX_SET_MESSAGE_BYTES));
  equal(decoded.flatMap((m) => m.peers).length, 1000);
  console.log(
    `encoding 1,000 peers: ${milliseconds.toFixed(2)} ms, ${messages.length} messages, ` +
      `${messages.reduce((n, m) => n + m.length, 0)} bytes`,
  );
});

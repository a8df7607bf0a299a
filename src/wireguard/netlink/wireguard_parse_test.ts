import { deepEqual, equal, throws } from "node:assert/strict";
import { ReplyCollector } from "./connection.ts";
import { MessageBuilder } from "./encode.ts";
import { hex } from "./testing.ts";
import { WGALLOWEDIP_A, WGDEVICE_A, WGPEER_A } from "./wireguard.ts";
import { parseDevice } from "./wireguard_parse.ts";

const FAMILY = 0x1b;
const SEQUENCE = 77;
const key = (byte: number) => new Uint8Array(32).fill(byte);

function allowedIP(b: MessageBuilder, family: number, address: string, mask: number): void {
  b.nest(
    0,
    (ip) =>
      ip.u16(WGALLOWEDIP_A.FAMILY, family).binary(WGALLOWEDIP_A.IPADDR, hex(address)).u8(WGALLOWEDIP_A.CIDR_MASK, mask),
  );
}

// The first message of a dump as the kernel writes it: device attributes, then the peers that fit.
function firstMessage(): Uint8Array {
  const timespec = new Uint8Array(16);
  new DataView(timespec.buffer).setBigInt64(0, 1_700_000_000n, true);
  new DataView(timespec.buffer).setBigInt64(8, 500_000_000n, true);
  const message = new MessageBuilder(FAMILY, 0x2) // NLM_F_MULTI
    .bytes(hex("00 01 0000"))
    .u32(WGDEVICE_A.IFINDEX, 4)
    .string(WGDEVICE_A.IFNAME, "siderolink")
    .binary(WGDEVICE_A.PRIVATE_KEY, key(0x11))
    .binary(WGDEVICE_A.PUBLIC_KEY, key(0x22))
    .u16(WGDEVICE_A.LISTEN_PORT, 51821)
    .u32(WGDEVICE_A.FWMARK, 0)
    .nest(WGDEVICE_A.PEERS, (peers) =>
      peers
        .nest(0, (a) =>
          a.binary(WGPEER_A.PUBLIC_KEY, key(0xaa))
            .binary(WGPEER_A.PRESHARED_KEY, new Uint8Array(32))
            .binary(WGPEER_A.ENDPOINT, hex("0200 ca6c c0000201 0000000000000000"))
            .u16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, 25)
            .binary(WGPEER_A.LAST_HANDSHAKE_TIME, timespec)
            .binary(WGPEER_A.RX_BYTES, hex("d204000000000000"))
            .binary(WGPEER_A.TX_BYTES, hex("2e16000000000000"))
            .nest(WGPEER_A.ALLOWEDIPS, (ips) => allowedIP(ips, 10, "fd00000000000000000000000000000a", 128))
            .u32(WGPEER_A.PROTOCOL_VERSION, 1))
        .nest(0, (b) =>
          b.binary(WGPEER_A.PUBLIC_KEY, key(0xbb))
            .binary(WGPEER_A.PRESHARED_KEY, new Uint8Array(32))
            .binary(WGPEER_A.ENDPOINT, hex("0a00 01bb 00000000 fd000000000000000000000000000005 00000000"))
            .u16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, 0)
            .binary(WGPEER_A.LAST_HANDSHAKE_TIME, new Uint8Array(16))
            .binary(WGPEER_A.RX_BYTES, new Uint8Array(8))
            .binary(WGPEER_A.TX_BYTES, new Uint8Array(8))
            .nest(WGPEER_A.ALLOWEDIPS, (ips) => {
              allowedIP(ips, 2, "0a000000", 8);
              allowedIP(ips, 10, "fd00000000000000000000000000000b", 128);
            })))
    .finish();
  new DataView(message.buffer).setUint32(8, SEQUENCE, true);
  return message;
}

// The second message, written out: peer bb continues with only its public key and one more allowed IP, then a
// new peer cc follows; NLMSG_DONE ends the dump in the same datagram.
const secondDatagram = hex(`
  a4000000 1b00 0200 4d000000 00000000     // len 164, family 0x1b, NLM_F_MULTI, sequence 77
  00 01 0000                               // WG_CMD_GET_DEVICE, version 1
  0f00 0200 73696465726f6c696e6b00 00        // WGDEVICE_A_IFNAME "siderolink\\0"
  8000 0880                                // WGDEVICE_A_PEERS, 128 bytes
    5400 0080                              //   peer, 84 bytes
      2400 0100 ${"bb".repeat(32)}         //     WGPEER_A_PUBLIC_KEY (the same peer again)
      2c00 0980                            //     WGPEER_A_ALLOWEDIPS
        2800 0080 0600 0100 0a000000 1400 0200 fd00000000000000000000000000000c 0500 0300 80000000
    2800 0080                              //   peer cc, 40 bytes
      2400 0100 ${"cc".repeat(32)}
  14000000 0300 0200 4d000000 00000000 00000000 // NLMSG_DONE, error 0
`);

Deno.test("a dump over two messages is merged: a peer's allowed IPs continue in the next message", () => {
  const collector = new ReplyCollector(SEQUENCE, 0, "read");
  equal(collector.add(firstMessage()), false);
  equal(collector.add(secondDatagram), true);
  const device = parseDevice(collector.messages);
  equal(device.name, "siderolink");
  deepEqual(device.publicKey, key(0x22));
  equal(device.listenPort, 51821);
  deepEqual(device.peers, [
    {
      publicKey: key(0xaa),
      endpoint: "192.0.2.1:51820",
      lastHandshake: new Date(1_700_000_000_500),
      receiveBytes: 1234,
      transmitBytes: 5678,
      persistentKeepaliveInterval: 25,
      allowedIPs: ["fd00::a/128"],
    },
    {
      publicKey: key(0xbb),
      endpoint: "[fd00::5]:443",
      lastHandshake: undefined,
      receiveBytes: 0,
      transmitBytes: 0,
      persistentKeepaliveInterval: 0,
      allowedIPs: ["10.0.0.0/8", "fd00::b/128", "fd00::c/128"],
    },
    { publicKey: key(0xcc), receiveBytes: 0, transmitBytes: 0, persistentKeepaliveInterval: 0, allowedIPs: [] },
  ]);
  // The device's private key is in the dump but never in what read() returns.
  equal(JSON.stringify(device).includes("17,17,17"), false);
});

Deno.test("a device without a key or peers reads as such", () => {
  const message = new MessageBuilder(FAMILY, 2).bytes(hex("00 01 0000")).string(WGDEVICE_A.IFNAME, "wg0")
    .u16(WGDEVICE_A.LISTEN_PORT, 0).finish();
  const collector = new ReplyCollector(0, 0, "read");
  collector.add(message);
  deepEqual(parseDevice(collector.messages), { name: "wg0", listenPort: 0, peers: [] });
});

Deno.test("malformed dumps are refused clearly", () => {
  const withPeer = (fill: (b: MessageBuilder) => void) => {
    const collector = new ReplyCollector(0, 0, "read");
    collector.add(
      new MessageBuilder(FAMILY, 2).bytes(hex("00 01 0000")).nest(WGDEVICE_A.PEERS, (p) => p.nest(0, fill)).finish(),
    );
    return () => parseDevice(collector.messages);
  };
  throws(withPeer((b) => b.u16(WGPEER_A.PERSISTENT_KEEPALIVE_INTERVAL, 1)), /a peer without a public key/);
  throws(withPeer((b) => b.binary(WGPEER_A.PUBLIC_KEY, key(1).subarray(2))), /WGPEER_A_PUBLIC_KEY has 30 bytes/);
  throws(
    withPeer((b) =>
      b.binary(WGPEER_A.PUBLIC_KEY, key(1)).nest(WGPEER_A.ALLOWEDIPS, (ips) => ips.nest(0, (ip) => ip.u8(3, 128)))
    ),
    /an allowed IP without a 4- or 16-byte address/,
  );
});

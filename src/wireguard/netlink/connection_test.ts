import { deepEqual, equal, throws } from "node:assert/strict";
import { ReplyCollector } from "./connection.ts";
import { MessageBuilder } from "./encode.ts";
import { NetlinkError } from "./errors.ts";
import { hex } from "./testing.ts";

function message(type: number, flags: number, sequence: number, payload: Uint8Array = new Uint8Array()): Uint8Array {
  const bytes = new MessageBuilder(type, flags).bytes(payload).finish();
  new DataView(bytes.buffer).setUint32(8, sequence, true);
  return bytes;
}

const concat = (...parts: Uint8Array[]): Uint8Array => new Uint8Array(parts.flatMap((part) => [...part]));
const done = (sequence: number) => message(3, 2, sequence, new Uint8Array(4));

Deno.test("a multi-part dump is collected across datagrams until NLMSG_DONE", () => {
  const collector = new ReplyCollector(42, 0, "dump");
  equal(collector.add(concat(message(20, 2, 42, hex("01020304")), message(20, 2, 42, hex("05060708")))), false);
  equal(collector.add(message(20, 2, 42, hex("090a0b0c"))), false);
  equal(collector.add(done(42)), true);
  deepEqual(collector.messages.map((m) => m.payload.toHex()), ["01020304", "05060708", "090a0b0c"]);
  equal(collector.interrupted, false);
});

Deno.test("replies with another sequence number (late answers to an earlier request) are skipped", () => {
  const collector = new ReplyCollector(42, 0, "dump");
  equal(collector.add(concat(message(20, 2, 41, hex("dead0000")), done(41))), false);
  equal(collector.add(concat(message(20, 2, 42, hex("01020304")), done(42))), true);
  deepEqual(collector.messages.map((m) => m.payload.toHex()), ["01020304"]);
});

Deno.test("replies addressed to another port id are skipped", () => {
  const collector = new ReplyCollector(42, 7, "dump");
  const forPort = (bytes: Uint8Array, portId: number) => {
    new DataView(bytes.buffer).setUint32(12, portId, true);
    return bytes;
  };
  equal(collector.add(forPort(done(42), 8)), false);
  equal(collector.add(forPort(done(42), 7)), true);
});

Deno.test("a dump message flagged NLM_F_DUMP_INTR marks the dump as interrupted", () => {
  const collector = new ReplyCollector(1, 0, "dump");
  collector.add(concat(message(20, 2 | 0x10, 1, hex("01020304")), done(1)));
  equal(collector.interrupted, true);
});

Deno.test("a recorded NLMSG_ERROR with extended ack names the errno and the kernel's reason", () => {
  // Recorded from Linux 6.18 without the wireguard module: RTM_NEWLINK kind "wireguard", sequence 7.
  // Flags NLM_F_CAPPED|NLM_F_ACK_TLVS; after the echoed header comes NLMSGERR_ATTR_MSG.
  const reply = hex(`
    3c000000 0200 0003 07000000 7f2d0000
    a1ffffff                                  // error -95
    48000000 1000 0506 07000000 00000000      // the request's header
    1800 0100 556e6b6e6f776e2064657669636520747970650000 // "Unknown device type"
  `);
  const collector = new ReplyCollector(7, 0x2d7f, "create link wg0 of kind wireguard");
  throws(() => collector.add(reply), (error: unknown) => {
    if (!(error instanceof NetlinkError)) return false;
    equal(
      error.message,
      "create link wg0 of kind wireguard: EOPNOTSUPP (operation not supported): Unknown device type",
    );
    equal(error.code, "EOPNOTSUPP");
    equal(error.extAck, "Unknown device type");
    return true;
  });
});

Deno.test("an NLMSG_ERROR that echoes the whole request still finds the extended ack", () => {
  // Without NETLINK_CAP_ACK the kernel copies the request (here 20 bytes) before the TLVs.
  const reply = hex(`
    38000000 0200 0002 05000000 00000000     // flags NLM_F_ACK_TLVS only
    eaffffff                                 // -22
    14000000 1000 0500 05000000 00000000 aabbccdd // the echoed 20-byte request
    0e00 0100 62616420696e70757400 0000      // "bad input"
  `);
  throws(() => new ReplyCollector(5, 0, "op").add(reply), { code: "EINVAL", extAck: "bad input" });
});

Deno.test("an error in NLMSG_DONE fails the dump; an unknown errno still reads clearly", () => {
  const failedDone = message(3, 2, 9, new Uint8Array(new Int32Array([-19]).buffer));
  throws(() => new ReplyCollector(9, 0, "read device wg0").add(failedDone), /^NetlinkError: read device wg0: ENODEV/);
  const strange = message(
    2,
    0x100,
    9,
    new Uint8Array([...new Uint8Array(new Int32Array([-1234]).buffer), ...new Uint8Array(16)]),
  );
  throws(() => new ReplyCollector(9, 0, "op").add(strange), /^NetlinkError: op: errno 1234$/);
});

Deno.test("an ack ends a request; a truncated datagram is refused clearly", () => {
  const collector = new ReplyCollector(3, 0, "op");
  equal(collector.add(hex("24000000 0200 0001 03000000 00000000 00000000 14000000 1000 0500 03000000 00000000")), true);
  deepEqual(collector.messages, []);
  throws(
    () => new ReplyCollector(3, 0, "op").add(hex("ff000000 0200 0000 03000000 00000000")),
    /malformed netlink message/,
  );
});

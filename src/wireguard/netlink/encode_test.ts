import { deepEqual, throws } from "node:assert/strict";
import { attributeSize, MessageBuilder, setSequence } from "./encode.ts";
import { parseAttributes, parseMessages, read } from "./parse.ts";
import { hex } from "./testing.ts";

Deno.test("attributes are padded to 4 bytes and every nest carries NLA_F_NESTED", () => {
  const message = new MessageBuilder(0x1234, 0x0301, 8) // a small capacity makes the buffer grow
    .u8(1, 0xab)
    .u16(2, 0x1234)
    .nest(3, (b) => b.nest(0, (inner) => inner.string(4, "ab")))
    .u32(5, 0xdeadbeef)
    .finish();
  deepEqual(
    message.toHex(),
    hex(`
      38000000 3412 0103 00000000 00000000
      0500 0100 ab000000
      0600 0200 34120000
      1000 0380 0c00 0080 0700 0400 616200 00 // nest 3 { nest 0 { "ab\\0" + 1 padding } }: nests count the padding
      0800 0500 efbeadde
    `).toHex(),
  );
  deepEqual([attributeSize(0), attributeSize(1), attributeSize(4), attributeSize(5)], [4, 8, 8, 12]);
});

Deno.test("parsing reverses building", () => {
  const [message] = parseMessages(setSequence(
    new MessageBuilder(20, 5).bytes(hex("0a000000")).u16(1, 51820).string(2, "sl0").nest(3, (b) => b.u32(1, 7))
      .finish(),
    99,
  ));
  deepEqual([message.type, message.flags, message.sequence], [20, 5, 99]);
  const attributes = parseAttributes(message.payload.subarray(4));
  deepEqual(attributes.map((a) => [a.type, a.nested]), [[1, false], [2, false], [3, true]]);
  deepEqual(read.u16(attributes[0].value, "port"), 51820);
  deepEqual(read.string(attributes[1].value), "sl0");
  deepEqual(read.u32(parseAttributes(attributes[2].value)[0].value, "x"), 7);
  throws(() => read.u32(attributes[0].value, "WGDEVICE_A_FLAGS"), /WGDEVICE_A_FLAGS has 2 bytes, expected 4/);
  throws(() => parseAttributes(hex("0900 0100 00000000")), /malformed netlink attribute: type 1, length 9/);
});

Deno.test("an attribute too long for its 16-bit length is refused", () => {
  throws(() => new MessageBuilder(1, 1).binary(1, new Uint8Array(70000)), /attribute 1 too long/);
});

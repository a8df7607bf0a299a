import { deepEqual, throws } from "node:assert/strict";
import { ReplyCollector } from "./connection.ts";
import { encodeGetFamily, parseFamilyId } from "./genetlink.ts";
import { hex } from "./testing.ts";

Deno.test("CTRL_CMD_GETFAMILY: golden bytes", () => {
  deepEqual(
    encodeGetFamily("wireguard").toHex(),
    hex(`
      24000000 1000 0500 00000000 00000000  // len 36, GENL_ID_CTRL, REQUEST|ACK
      03 01 0000                            // genlmsghdr: CTRL_CMD_GETFAMILY, version 1
      0e00 0200 77697265677561726400 0000   // CTRL_ATTR_FAMILY_NAME "wireguard\\0" + 2 padding
    `).toHex(),
  );
});

Deno.test("the family id is read from a recorded controller reply (family nlctrl, id 0x10)", () => {
  // Recorded from Linux 6.18: the reply to CTRL_CMD_GETFAMILY "nlctrl", then its ack.
  const collector = new ReplyCollector(10, 0x7530, "resolve nlctrl");
  deepEqual(
    collector.add(hex(
      "88000000100000000a00000030750000010200000b0002006e6c6374726c000006000100100000000800030002000000" +
        "080004000000000008000500000000002c000600140001000800010003000000080002000e00000014000200080001000a" +
        "000000080002000c0000001c0007001800010008000200100000000b0001006e6f746966790000",
    )),
    false,
  );
  deepEqual(collector.add(hex("24000000020000010a000000307500000000000020000000100005000a00000000000000")), true);
  deepEqual(parseFamilyId(collector.messages), 0x10);
});

Deno.test("an unknown family is ENOENT in a recorded reply", () => {
  const collector = new ReplyCollector(9, 0x2d7f, "resolve generic netlink family wireguard");
  throws(
    () => collector.add(hex("2400000002000001090000007f2d0000feffffff24000000100005000900000000000000")),
    { name: "NetlinkError", code: "ENOENT", errno: 2 },
  );
  throws(() => parseFamilyId([]), /no family id/);
});

import { deepEqual, throws } from "node:assert/strict";
import { MessageBuilder } from "./encode.ts";
import { parseMessages } from "./parse.ts";
import {
  checkLinkName,
  encodeAddAddress,
  encodeCreateLink,
  encodeDeleteLink,
  encodeGetAddresses,
  encodeGetLink,
  encodeSetLink,
  parseAddresses,
  parseLinkIndex,
  RTM_NEWADDR,
} from "./rtnetlink.ts";
import { hex } from "./testing.ts";

Deno.test("RTM_NEWLINK creating a link: golden bytes", () => {
  deepEqual(
    encodeCreateLink("sl0", "wireguard", 1280),
    hex(`
      44000000 1000 0506 00000000 00000000 // nlmsghdr: len 68, RTM_NEWLINK, REQUEST|ACK|EXCL|CREATE
      00 00 0000 00000000 00000000 00000000 // ifinfomsg: AF_UNSPEC, index 0
      0800 0300 736c3000                    // IFLA_IFNAME "sl0\\0"
      0800 0400 00050000                    // IFLA_MTU 1280
      1400 1280                             // IFLA_LINKINFO, NLA_F_NESTED, 20 bytes
        0e00 0100 77697265677561726400 0000 //   IFLA_INFO_KIND "wireguard\\0" + 2 padding
    `),
  );
  // Without an MTU the attribute is left out.
  deepEqual(
    encodeCreateLink("br1", "bridge"),
    hex(`
      38000000 1000 0506 00000000 00000000
      00 00 0000 00000000 00000000 00000000
      0800 0300 62723100
      1000 1280 0b00 0100 62726964676500 00 // IFLA_LINKINFO { IFLA_INFO_KIND "bridge\\0" + 1 padding }
    `),
  );
});

Deno.test("RTM_SETLINK up with an MTU, and down: golden bytes", () => {
  deepEqual(
    encodeSetLink("sl0", { up: true, mtu: 1280 }),
    hex(`
      30000000 1300 0500 00000000 00000000  // len 48, RTM_SETLINK, REQUEST|ACK
      00 00 0000 00000000 01000000 01000000 // ifi_flags IFF_UP, ifi_change IFF_UP
      0800 0300 736c3000
      0800 0400 00050000
    `),
  );
  deepEqual(
    encodeSetLink("sl0", { up: false }),
    hex(`
      28000000 1300 0500 00000000 00000000
      00 00 0000 00000000 00000000 01000000 // flags 0, change IFF_UP: down
      0800 0300 736c3000
    `),
  );
});

Deno.test("RTM_GETLINK and RTM_DELLINK by name: golden bytes", () => {
  const body = "00 00 0000 00000000 00000000 00000000 0800 0300 736c3000";
  deepEqual(encodeGetLink("sl0"), hex(`28000000 1200 0500 00000000 00000000 ${body}`));
  deepEqual(encodeDeleteLink("sl0"), hex(`28000000 1100 0500 00000000 00000000 ${body}`));
});

Deno.test("RTM_NEWADDR adding an IPv6 address without DAD: golden bytes", () => {
  deepEqual(
    encodeAddAddress(7, "fdae:41e4:649b:9303::1/64"),
    hex(`
      48000000 1400 0506 00000000 00000000  // len 72, RTM_NEWADDR, REQUEST|ACK|EXCL|CREATE
      0a 40 02 00 07000000                  // ifaddrmsg: AF_INET6, /64, IFA_F_NODAD, scope 0, index 7
      1400 0200 fdae41e4649b93030000000000000001 // IFA_LOCAL
      1400 0100 fdae41e4649b93030000000000000001 // IFA_ADDRESS
      0800 0800 02000000                    // IFA_FLAGS IFA_F_NODAD
    `),
  );
  throws(() => encodeAddAddress(7, "10.0.0.1/24"), /address "10.0.0.1\/24" is not IPv6/);
  throws(() => encodeAddAddress(7, "fd00::1"), /address "fd00::1" is not an IP address with a prefix length/);
  throws(() => encodeAddAddress(7, "fd00::1/129"), /is not an IP address with a prefix length/);
});

Deno.test("RTM_GETADDR dump of IPv6 addresses: golden bytes", () => {
  deepEqual(encodeGetAddresses(), hex("18000000 1600 0103 00000000 00000000 0a 00 00 00 00000000"));
});

Deno.test("the index comes from a recorded RTM_NEWLINK reply", () => {
  const [reply] = parseMessages(hex(`
    20000000 1000 0000 01000000 00000000
    00 00 0403 05000000 43100100 00000000 // ARPHRD_ETHER, index 5, flags UP|…
  `));
  deepEqual(parseLinkIndex(reply), 5);
});

Deno.test("addresses are read from an RTM_NEWADDR dump, only for the link asked for", () => {
  const address = (index: number, bytes: string, prefix: number, local?: string) => {
    const b = new MessageBuilder(RTM_NEWADDR, 2).bytes(hex(`0a ${prefix.toString(16).padStart(2, "0")} 80 00`))
      .bytes(new Uint8Array(new Uint32Array([index]).buffer))
      .binary(1, hex(bytes));
    if (local) b.binary(2, hex(local));
    return parseMessages(b.finish())[0];
  };
  const messages = [
    address(3, "fdae41e4649b93030000000000000001", 64),
    address(4, "fd000000000000000000000000000009", 64), // another link
    address(3, "fe800000000000000000000000000001", 64),
    // With a peer address, IFA_LOCAL is the link's own address and IFA_ADDRESS the peer's.
    address(3, "fd000000000000000000000000000002", 128, "fd000000000000000000000000000001"),
  ];
  deepEqual(parseAddresses(messages, 3), ["fdae:41e4:649b:9303::1/64", "fe80::1/64", "fd00::1/128"]);
});

Deno.test("interface names are checked before anything is sent", () => {
  checkLinkName("siderolink");
  for (const bad of ["", "0123456789abcdef", "a/b", "a b", "a:b", ".", ".."]) {
    throws(() => checkLinkName(bad), /interface name ".*" is invalid/, bad);
  }
});

import { deepEqual, equal, throws } from "node:assert/strict";
import { decodeSockaddr, encodeSockaddr, formatCidr, parseCidr, parseIP } from "./inet.ts";
import { hex } from "./testing.ts";

Deno.test("endpoints round-trip through sockaddr_in and sockaddr_in6", () => {
  deepEqual(encodeSockaddr("192.0.2.1:51820", "endpoint").toHex(), "0200ca6cc00002010000000000000000");
  deepEqual(
    encodeSockaddr("[FD00::5]:443", "endpoint").toHex(),
    hex("0a00 01bb 00000000 fd000000000000000000000000000005 00000000").toHex(),
  );
  for (const endpoint of ["192.0.2.1:51820", "[fd00::5]:443", "0.0.0.0:0", "[::1]:65535"]) {
    equal(decodeSockaddr(encodeSockaddr(endpoint, "endpoint")), endpoint);
  }
  equal(decodeSockaddr(hex("0100 0000")), undefined); // AF_UNIX: not an endpoint
  for (const bad of ["192.0.2.1", "fd00::5:443", "[fd00::5]", "1.2.3.4:65536", "host:1", "256.0.0.1:1", "01.2.3.4:1"]) {
    throws(() => encodeSockaddr(bad, "endpoint"), /endpoint ".*" is not ip:port or \[ipv6\]:port/, bad);
  }
});

Deno.test("CIDRs parse into bytes and print canonically", () => {
  deepEqual(parseCidr("10.0.0.0/8", "x"), { address: new Uint8Array([10, 0, 0, 0]), prefixLength: 8 });
  equal(formatCidr(parseCidr("FDAE:41E4:649B:9303:0:0:0:1/64", "x")), "fdae:41e4:649b:9303::1/64");
  for (const bad of ["fd00::1", "fd00::1/129", "10.0.0.0/33", "fd00::1/-1", "x/8", "/8"]) {
    throws(() => parseCidr(bad, "allowed IP"), /allowed IP ".*" is not an IP address with a prefix length/, bad);
  }
  equal(parseIP("1.2.3"), undefined);
});

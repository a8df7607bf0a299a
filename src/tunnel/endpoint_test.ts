import { equal } from "node:assert/strict";
import { transportOf } from "./endpoint.ts";

Deno.test("a peer's transport follows from its endpoint", () => {
  equal(transportOf("127.0.0.1:41234"), "grpc");
  equal(transportOf("[fd5e:1::2]:51820"), "udp");
  equal(transportOf("192.0.2.7:51820"), "udp");
  equal(transportOf("127.0.0.2:51820"), "udp", "only the relay's own address");
  equal(transportOf("[::1]:51820"), "udp");
  equal(transportOf(undefined), undefined);
});

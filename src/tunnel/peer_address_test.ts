import { deepEqual, equal, throws } from "node:assert/strict";
import { status } from "@grpc/grpc-js";
import { tunnelPeer } from "./peer_address.ts";
import { GrpcRefusal } from "../grpc/refusal.ts";

const VIRTUAL = "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50888";
const ADDRESS = "fdae:41e4:649b:9303:cda8:cd34:bce1:2962";

function refusal(values: (string | Uint8Array)[]): { code: status; message: string } {
  try {
    tunnelPeer(values, "");
  } catch (error) {
    if (error instanceof GrpcRefusal) return { code: error.code, message: error.message };
    throw error;
  }
  throw new Error(`${JSON.stringify(values)} was accepted`);
}

Deno.test("a virtual [addr]:50888 maps back to the machine's SideroLink address", () => {
  deepEqual(tunnelPeer([VIRTUAL], ""), { virtual: VIRTUAL, address: ADDRESS });
  // Upper case and uncompressed text name the same machine; the first value counts.
  deepEqual(tunnelPeer(["[FDAE:41E4:649B:9304:CDA8:CD34:BCE1:2962]:50888", "[::1]:1"], ""), {
    virtual: VIRTUAL,
    address: ADDRESS,
  });
  deepEqual(tunnelPeer([new TextEncoder().encode(VIRTUAL)], "").address, ADDRESS);
});

Deno.test("missing metadata is refused with the reference's message", () => {
  for (const values of [[], [""]]) {
    deepEqual(refusal(values), { code: status.INVALID_ARGUMENT, message: "failed to get peer address from context" });
  }
});

Deno.test("a value that is not [ipv6]:port is an incorrect header value, shown short", () => {
  for (
    const bad of [
      "fdae:41e4:649b:9304:cda8:cd34:bce1:2962",
      "fdae:41e4:649b:9304:cda8:cd34:bce1:2962:50888",
      "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]",
      "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:",
      "[fdae:41e4:649b:9304:cda8:cd34:bce1]:50888",
      "[fdae::9304::2962]:50888",
      "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:70000",
      "10.0.0.1:50888",
      " [fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50888",
    ]
  ) {
    deepEqual(refusal([bad]), {
      code: status.INVALID_ARGUMENT,
      message: `incorrect header value ${JSON.stringify(bad)}`,
    });
  }
  const long = refusal(["x".repeat(10_000)]);
  equal(long.message, `incorrect header value "${"x".repeat(64)}…"`);
});

Deno.test("an address outside the virtual prefix, or another port, is not allowed", () => {
  for (
    const other of [
      `[${ADDRESS}]:50888`, // the SideroLink address itself
      "[fd7d:e391:ac7d:b204:661e:212:932b:d6d4]:50888", // another installation's virtual prefix
      "[fdae:41e4:649b:9304:cda8:cd34:bce1:2962]:50889",
    ]
  ) deepEqual(refusal([other]), { code: status.PERMISSION_DENIED, message: "peer not allowed" });
  throws(() => tunnelPeer([VIRTUAL], "another installation"), /peer not allowed/);
});

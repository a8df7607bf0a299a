import assert from "node:assert/strict";
import { canonicalAddress } from "./source_address.ts";

Deno.test("source addresses become canonical IPv6 text", () => {
  const cases: [string, string | undefined][] = [
    ["fdae:41e4:649b:9303:0:0:0:1", "fdae:41e4:649b:9303::1"],
    ["FDAE:41E4:649B:9303:CDA8:CD34:BCE1:2962", "fdae:41e4:649b:9303:cda8:cd34:bce1:2962"],
    ["[fdae:41e4:649b:9303::1]", "fdae:41e4:649b:9303::1"],
    ["fe80::1%eth0", "fe80::1"],
    ["::1", "::1"],
    ["127.0.0.2", "::ffff:127.0.0.2"],
    ["::ffff:127.0.0.2", "::ffff:127.0.0.2"],
    ["::FFFF:7f00:2", "::ffff:127.0.0.2"],
    ["::ffff:300.0.0.1", undefined],
    ["256.1.1.1", undefined],
    ["not an address", undefined],
    ["", undefined],
  ];
  for (const [text, expected] of cases) assert.equal(canonicalAddress(text), expected, text);
});

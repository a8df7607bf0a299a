import { deepEqual, equal } from "node:assert/strict";
import { formatIPv6, parseIPv6 } from "./ipv6.ts";

Deno.test("IPv6 text round-trips in RFC 5952 form", () => {
  const cases: [string, string][] = [
    ["fdae:41e4:649b:9303::1", "fdae:41e4:649b:9303::1"],
    ["::", "::"],
    ["::1", "::1"],
    ["FD00:0:0:1:0:0:0:1", "fd00:0:0:1::1"], // the first of two equal runs stays when it is longer only
    ["fd00:0:0:1:0:0:1:1", "fd00::1:0:0:1:1"],
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    ["1:0:3:4:5:6:7:8", "1:0:3:4:5:6:7:8"], // a single zero group is not compressed
  ];
  for (const [input, canonical] of cases) equal(formatIPv6(parseIPv6(input)!), canonical);
});

Deno.test("malformed IPv6 text is refused", () => {
  for (
    const bad of [
      "",
      "1::2::3",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "12345::",
      "g::",
      "1:2:3:4:5:6:7::8",
      "::ffff:1.2.3.4",
    ]
  ) {
    equal(parseIPv6(bad), undefined, bad);
  }
  deepEqual(parseIPv6("::1"), Uint8Array.from({ length: 16 }, (_, i) => (i === 15 ? 1 : 0)));
});

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

Deno.test("random addresses with zero runs round-trip, and their text is the RFC 5952 form", () => {
  for (let round = 0; round < 2000; round++) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    // Zero a few random groups, so that runs of every length and position occur.
    for (let i = 0; i < 8; i++) if (bytes[i] % 2 === 0) bytes.fill(0, 2 * i, 2 * i + 2);
    const text = formatIPv6(bytes);
    deepEqual(parseIPv6(text), bytes, text);
    deepEqual(parseIPv6(text.toUpperCase()), bytes, text);
    equal(text, text.toLowerCase());
    equal(text.split("::").length <= 2, true, text);
    equal(/(^|:)0[0-9a-f]/.test(text), false, `no leading zeros: ${text}`);
  }
});

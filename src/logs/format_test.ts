import { equal } from "node:assert/strict";
import { formatDmesg, formatPretty, lineRenderer } from "./format.ts";
import { LINES } from "./sample_lines.ts";

Deno.test("dmesg: [%5lu.%06lu] facility: msg, trailing newline dropped", () => {
  equal(formatDmesg(JSON.parse(LINES.aLinkUp)), "[    1.503112] kern: eth0: link up");
  equal(formatDmesg(JSON.parse(LINES.cDebug)), "[    0.000000] user: no newline at the end");
  equal(formatDmesg({ clock: 98765432100123, facility: "kern", msg: "wide\n" }), "[98765432.100123] kern: wide");
});

Deno.test("dmesg: each line of a multi-line message repeats the timestamp", () => {
  equal(
    formatDmesg(JSON.parse(LINES.aMulti)),
    "[123456.789012] daemon: first\n[123456.789012] daemon: second\n[123456.789012] daemon: third",
  );
});

Deno.test("dmesg: control characters are escaped; missing keys do not crash", () => {
  equal(formatDmesg(JSON.parse(LINES.aEscape)), "[    4.000000] kern: \\x1b[31mred\\x1b[0m\\x0d");
  equal(formatDmesg({ msg: "x" }), "[     -.------] x");
  equal(formatDmesg({ clock: -1, facility: "kern", msg: 5 }), "[     -.------] kern: 5");
});

Deno.test("pretty: time, level, machine or UUID, message", () => {
  equal(formatPretty(JSON.parse(LINES.aLinkUp), false), "2026-03-02T08:15:44.103Z info  prod-cp-1 eth0: link up");
  equal(
    formatPretty(JSON.parse(LINES.cDebug), false),
    "2026-03-02T08:18:00.000Z debug aaaaaaaa-bbbb-4ccc-8ddd-eeeeeeeeeeee no newline at the end",
  );
  equal(
    formatPretty(JSON.parse(LINES.aMulti), false),
    "2026-03-02T08:17:00.500Z warn  prod-cp-1 first\n" +
      "2026-03-02T08:17:00.500Z warn  prod-cp-1 second\n" +
      "2026-03-02T08:17:00.500Z warn  prod-cp-1 third",
  );
  equal(formatPretty({ msg: "bare" }, false), "-                        info  unknown bare");
});

Deno.test("pretty: levels are coloured only when asked (a terminal)", () => {
  equal(
    formatPretty(JSON.parse(LINES.bDisk), true),
    "2026-03-02T08:16:00.000Z \x1b[31merror\x1b[0m stage-w-1 sda: I/O error",
  );
  equal(
    formatPretty(JSON.parse(LINES.aMulti), true).split("\n")[0],
    "2026-03-02T08:17:00.500Z \x1b[33mwarn\x1b[0m  prod-cp-1 first",
  );
  equal(formatPretty(JSON.parse(LINES.cDebug), true).slice(25, 38), "\x1b[2mdebug\x1b[0m");
  equal(formatPretty(JSON.parse(LINES.aLinkUp), true), formatPretty(JSON.parse(LINES.aLinkUp), false));
});

Deno.test("json renders the stored line itself", () => {
  const line = LINES.aEscape;
  equal(lineRenderer("json", true)(line, JSON.parse(line)), line);
  equal(lineRenderer("dmesg", true)(line, JSON.parse(line)), formatDmesg(JSON.parse(line)));
});

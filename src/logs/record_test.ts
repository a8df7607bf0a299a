import assert from "node:assert/strict";
import { annotations } from "../machines/identity.ts";
import { compareBytes, levelOf, levelsAtLeast, LineFormatter, parseRecord, recordTimeMs } from "./record.ts";

/** The record behind the PROTOCOL.md §4 example, as Talos sends it (Go's sorted key order). */
const TALOS_LINE =
  '{"clock":1503112,"facility":"kern","msg":"eth0: link up\\n","priority":"info","seq":812,"talos-level":"info","talos-time":"2026-03-02T08:15:44.1038Z"}';

/** PROTOCOL.md §4's output line, byte for byte. */
const PROTOCOL_EXAMPLE =
  '{"clock":1503112,"cluster":"prod","facility":"kern","machine":"prod-cp-1","metal_machine":"prod-cp-x7k2p","msg":"eth0: link up\\n","namespace":"default","priority":"info","seq":812,"server_uuid":"0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f","talos-level":"info","talos-time":"2026-03-02T08:15:44.1038Z"}';

const IDENTITY = {
  serverUuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
  namespace: "default",
  cluster: "prod",
  metalMachine: "prod-cp-x7k2p",
  machine: "prod-cp-1",
};

Deno.test("the output line is PROTOCOL.md §4's example byte for byte", () => {
  const { record } = parseRecord(TALOS_LINE);
  assert.ok(record);
  assert.equal(new LineFormatter(annotations(IDENTITY)).format(record), PROTOCOL_EXAMPLE);
});

Deno.test("the same formatter serves many records and a change of record shape", () => {
  const formatter = new LineFormatter(annotations({ serverUuid: "u-1", cluster: "c" }));
  for (let seq = 0; seq < 3; seq++) {
    assert.equal(formatter.format({ seq, msg: "m" }), `{"cluster":"c","msg":"m","seq":${seq},"server_uuid":"u-1"}`);
  }
  assert.equal(
    formatter.format({ b: 1, a: [1, { z: 1, y: 2 }] }),
    '{"a":[1,{"z":1,"y":2}],"b":1,"cluster":"c","server_uuid":"u-1"}',
  );
});

Deno.test("unknown keys are kept, sorted by byte order, and annotations cannot be spoofed", () => {
  const { record } = parseRecord(
    '{"zz":1,"Zebra":true,"server_uuid":"evil","é":"x","10":2,"9":3,"\\ud83d\\ude00":4,"\\uffff":5}',
  );
  assert.ok(record);
  const line = new LineFormatter(annotations({ serverUuid: "u-1" })).format(record);
  assert.equal(line, '{"10":2,"9":3,"Zebra":true,"server_uuid":"u-1","zz":1,"é":"x","\uffff":5,"😀":4}');
  // The order is the byte order of UTF-8: U+FFFF (ef bf bf) before U+1F600 (f0 9f 98 80).
  const encoder = new TextEncoder();
  // (Read the keys from the text: a parsed object would put "9" and "10" in numeric order.)
  const keys = [...line.matchAll(/[{,]"((?:[^"\\]|\\.)*)":/g)].map((match) => JSON.parse(`"${match[1]}"`));
  assert.equal(keys.length, 8);
  const bytes = keys.map((key) => encoder.encode(key).toHex());
  assert.deepEqual(bytes, [...bytes].sort());
});

Deno.test("control characters and invalid text stay on one line", () => {
  const { record } = parseRecord('{"msg":"a\\nb\\r\\u0000\\ud800\uFFFD","seq":1}');
  assert.ok(record);
  const line = new LineFormatter({ server_uuid: "u" }).format(record);
  assert.ok(!line.includes("\n") && !line.includes("\r"));
  assert.equal(line, '{"msg":"a\\nb\\r\\u0000\\ud800\uFFFD","seq":1,"server_uuid":"u"}');
  assert.deepEqual(JSON.parse(line).msg, record.msg);
});

Deno.test("lines that are no JSON object are rejected with a reason", () => {
  const cases: [string, RegExp][] = [
    ["", /not JSON/],
    ["{", /not JSON/],
    ['{"seq":1} trailing', /not JSON/],
    ["[1,2]", /not a JSON object \(an array\)/],
    ["null", /not a JSON object \(null\)/],
    ['"text"', /not a JSON object \(string\)/],
    ["42", /not a JSON object \(number\)/],
  ];
  for (const [line, reason] of cases) assert.match(parseRecord(line).error ?? "", reason, line);
});

Deno.test("levels: talos-level first, else the priority, and severity filters", () => {
  assert.equal(levelOf({ "talos-level": "warn", priority: "err" }), "warn");
  assert.equal(levelOf({ priority: "crit" }), "error");
  assert.equal(levelOf({ priority: "notice" }), "info");
  assert.equal(levelOf({ priority: "bogus" }), "info");
  assert.equal(levelOf({}), "info");
  assert.deepEqual(levelsAtLeast("error"), ["error"]);
  assert.deepEqual(levelsAtLeast("warn"), ["error", "warn"]);
  assert.deepEqual(levelsAtLeast("debug"), ["error", "warn", "info", "debug"]);
});

Deno.test("record time reads talos-time with sub-millisecond digits", () => {
  assert.equal(recordTimeMs({ "talos-time": "2026-03-02T08:15:44.1038Z" }), Date.UTC(2026, 2, 2, 8, 15, 44, 103));
  assert.equal(recordTimeMs({ "talos-time": "2026-03-02T08:15:44.123456789Z" }), Date.UTC(2026, 2, 2, 8, 15, 44, 123));
  assert.equal(recordTimeMs({ "talos-time": "2026-03-02T08:15:44Z" }), Date.UTC(2026, 2, 2, 8, 15, 44));
  assert.equal(recordTimeMs({ "talos-time": "yesterday" }), undefined);
  assert.equal(recordTimeMs({ "talos-time": 5 }), undefined);
});

Deno.test("compareBytes is UTF-8 byte order", () => {
  assert.ok(compareBytes("a", "b") < 0);
  assert.ok(compareBytes("ab", "a") > 0);
  assert.ok(compareBytes("\uffff", "\u{1f600}") < 0); // UTF-16 units would say the opposite
  assert.equal(compareBytes("x", "x"), 0);
});

Deno.test("the fast time reader agrees with Date.parse", () => {
  const samples = [
    "2026-03-02T08:15:44Z",
    "2026-03-02T08:15:44.1Z",
    "2026-03-02T08:15:44.12Z",
    "2026-03-02T08:15:44.999999999Z",
    "1970-01-01T00:00:00Z",
    "2026-02-29T08:15:44Z",
    "2026-13-02T08:15:44Z",
    "2026-03-02T24:00:00Z",
    "2026-03-02T08:15:44.Z",
    "2026-03-02T08:15:44.1x3Z",
    "2026-03-02 08:15:44Z",
    "2026-03-02T08:15:44+01:00",
    "+02026-03-02T08:15:44Z",
    "2026-3-02T08:15:44.5Z",
  ];
  for (let i = 0; i < 2000; i++) {
    const ms = Math.floor(Math.random() * 4_000_000_000_000);
    const iso = new Date(ms).toISOString();
    samples.push(iso, iso.replace(/\.\d+Z$/, "Z"), iso.replace("Z", `${i % 10}${i % 7}Z`));
  }
  for (const text of samples) {
    const expected = Date.parse(text);
    assert.equal(recordTimeMs({ "talos-time": text }), Number.isFinite(expected) ? expected : undefined, text);
  }
});

Deno.test("a __proto__ key is an ordinary key, kept in its place", () => {
  const { record } = parseRecord('{"seq":1,"__proto__":{"x":1},"msg":"m"}');
  assert.ok(record);
  const line = new LineFormatter({ server_uuid: "u" }).format(record);
  assert.equal(line, '{"__proto__":{"x":1},"msg":"m","seq":1,"server_uuid":"u"}');
  // The fast path again for the next, ordinary shape.
  assert.equal(new LineFormatter({ server_uuid: "u" }).format({ seq: 2 }), '{"seq":2,"server_uuid":"u"}');
});

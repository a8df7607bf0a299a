/**
 * The fast path against the full path: for many generated lines (Go's `json.Marshal` output as Talos writes it,
 * `JSON.stringify` output, and both mutated: escapes of every kind, unicode, lone surrogates, numbers, nesting,
 * repeated and unsorted keys, annotation keys, whitespace, invalid UTF-8), the fast path either gives the very
 * bytes and fields the full path gives, or leaves the line to it. Deterministic: a seeded generator.
 */
import assert from "node:assert/strict";
import { LineSplicer } from "./canonical.ts";
import { levelOf, LineFormatter, parseRecord, recordTimeMs } from "./record.ts";
import { seededRandom } from "../../tests/support/seeded_random.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder(); // as the full path's splitter decodes: invalid UTF-8 becomes U+FFFD

const next = seededRandom(12);
const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)];
const chance = (p: number) => next() < p;

const PIECES = [
  "a",
  "eth0: link up",
  " ",
  "0",
  "9",
  '"',
  "\\",
  "/",
  "\n",
  "\r",
  "\t",
  "\b",
  "\f",
  "\u0000",
  "\u0001",
  "\u001f",
  "\u007f",
  "<",
  ">",
  "&",
  "é",
  "€",
  "😀",
  "\u2028",
  "\u2029",
  "\ufffd",
  "\ufeff",
  "\ud800",
  "\udc00",
  "\udbff",
  "\u0080",
  "\u07ff",
  "\u0800",
  "\uffff",
  "ключ",
  "u",
  "\\u0041",
  "{",
  "}",
  "[",
  "]",
  ",",
  ":",
];

function randomString(maxPieces = 8): string {
  let text = "";
  for (let n = Math.floor(next() * maxPieces); n > 0; n--) text += pick(PIECES);
  return text;
}

const NUMBERS = [
  0,
  1,
  -1,
  42,
  1503112,
  123456789012345,
  999999999999999,
  1234567890123456,
  2 ** 53,
  2 ** 53 + 2,
  1.5,
  -0.25,
  1e21,
  1e-7,
  123e-20,
  -0,
  5e-324,
  1.7976931348623157e308,
  100,
  1e15,
  1e16,
];

function randomValue(depth: number): unknown {
  const kind = Math.floor(next() * (depth > 3 ? 4 : 6));
  if (kind === 0) return randomString();
  if (kind === 1) return pick(NUMBERS);
  if (kind === 2) return pick([true, false, null]);
  if (kind === 3) return Math.floor(next() * 1e6);
  if (kind === 4) return Array.from({ length: Math.floor(next() * 4) }, () => randomValue(depth + 1));
  const object: Record<string, unknown> = {};
  for (let n = Math.floor(next() * 4); n > 0; n--) object[randomKey()] = randomValue(depth + 1);
  return object;
}

function randomKey(): string {
  return pick([
    "a",
    "b",
    "zz",
    "A",
    "msg",
    "seq",
    "clock",
    "0",
    "12",
    "__proto__",
    "",
    "ключ",
    'k"q',
    "k\\b",
    "k\n",
    "k<",
    "talos-level",
    "priority",
    "cluster",
    "server_uuid",
    "machine",
    "namespace",
    "metal_machine",
    "x-y",
    "~",
  ]);
}

const LEVELS = ["error", "warn", "info", "debug", "fatal", "", "INFO"];
const PRIORITIES = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "toString", "__proto__"];

/** A record shaped as Talos sends it, sometimes with odd values and extra keys. */
function talosRecord(seq: number): Record<string, unknown> {
  const clock = 1_000_000 + seq * 1_337;
  const record: Record<string, unknown> = {
    clock: chance(0.95) ? clock : randomValue(1),
    facility: pick(["kern", "user", "daemon"]),
    msg: chance(0.6) ? `eth${seq % 4}: link is up\n` : randomString(12),
    priority: chance(0.9) ? pick(PRIORITIES.slice(0, 8)) : pick([...PRIORITIES, 7, null]),
    seq: chance(0.95) ? seq : randomValue(1),
    "talos-level": chance(0.9) ? pick(LEVELS.slice(0, 4)) : pick([...LEVELS, 3]),
    "talos-time": chance(0.9)
      ? new Date(Date.UTC(2026, 2, 2, 8, 0, 0) + clock / 1000).toISOString().replace(/\.?0*Z$/, "Z")
      : pick(["2026-03-02T08:15:44.123456789Z", "2026-03-02T08:15:44+01:00", "yesterday", "2026-02-30T00:00:00Z", ""]),
  };
  for (let n = chance(0.3) ? Math.floor(next() * 3) + 1 : 0; n > 0; n--) record[randomKey()] = randomValue(1);
  return record;
}

/** What Go's `json.Marshal` writes for a string (as Talos's records have it): Go's escapes, invalid text as U+FFFD. */
function goString(text: string, oldGo: boolean): string {
  let out = '"';
  for (const char of text) {
    const c = char.codePointAt(0)!;
    if (char === '"' || char === "\\") out += `\\${char}`;
    else if (char === "\n") out += "\\n";
    else if (char === "\r") out += "\\r";
    else if (char === "\t") out += "\\t";
    else if (!oldGo && char === "\b") out += "\\b";
    else if (!oldGo && char === "\f") out += "\\f";
    else if (c < 0x20 || char === "<" || char === ">" || char === "&" || c === 0x2028 || c === 0x2029) {
      out += `\\u${c.toString(16).padStart(4, "0")}`;
    } else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else out += char;
  }
  return out + '"';
}

/** Go's `json.Marshal` of a decoded value: maps with sorted keys, float64 numbers. */
function goMarshal(value: unknown, oldGo: boolean): string {
  if (typeof value === "string") return goString(value, oldGo);
  if (typeof value === "number") return Object.is(value, -0) ? "-0" : String(value);
  if (value === null || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `[${value.map((item) => goMarshal(item, oldGo)).join(",")}]`;
  const object = value as Record<string, unknown>;
  const keys = Object.keys(object).sort((a, b) => Buffer.compare(encoder.encode(a), encoder.encode(b)));
  return `{${keys.map((key) => `${goString(key, oldGo)}:${goMarshal(object[key], oldGo)}`).join(",")}}`;
}

/** `JSON.stringify` with the record's own keys sorted (nested objects as they are). */
function jsSorted(record: Record<string, unknown>): string {
  const keys = Object.keys(record).sort((a, b) => Buffer.compare(encoder.encode(a), encoder.encode(b)));
  return `{${keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(record[key])}`).join(",")}}`;
}

const INTERESTING_BYTES = [
  0x20,
  0x22,
  0x5c,
  0x2c,
  0x7d,
  0x7b,
  0x3a,
  0x80,
  0xbf,
  0xc3,
  0xe2,
  0xed,
  0xf0,
  0xff,
  0x75,
  0x30,
  0x2d,
  0x2e,
  0x65,
  0x09,
  0x00,
  0x0d,
  0x41,
];

/** A line with one random byte replaced, inserted or removed. */
function mutate(line: Uint8Array): Uint8Array {
  const at = Math.floor(next() * line.length);
  const how = Math.floor(next() * 3);
  if (how === 0) {
    const copy = line.slice();
    copy[at] = pick(INTERESTING_BYTES);
    return copy;
  }
  if (how === 1) return new Uint8Array([...line.subarray(0, at), pick(INTERESTING_BYTES), ...line.subarray(at)]);
  return new Uint8Array([...line.subarray(0, at), ...line.subarray(at + 1)]);
}

/** Rewrites the line's text: other escapes of the same characters, whitespace, repeated or swapped keys. */
function rewrite(text: string): string {
  switch (Math.floor(next() * 6)) {
    case 0:
      return text.replace(/[a-z<é]/, (char) => `\\u${char.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0")}`);
    case 1:
      return text.replace("/", "\\/");
    case 2:
      return text.replace(",", pick([", ", ",\t", " ,"]));
    case 3:
      return text.replace(/^\{("[^"]*":[^,]*),/, "{$1,$1,");
    case 4:
      return text.replace(/^\{("[^"]*":[^,]*),("[^"]*":[^,]*),/, "{$2,$1,");
    default:
      return text + pick(["\r", " ", "x", "}"]);
  }
}

const IDENTITIES: Record<string, string>[] = [
  {
    cluster: "prod",
    machine: "prod-cp-1",
    metal_machine: "prod-cp-x7k2p",
    namespace: "default",
    server_uuid: "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f",
  },
  { server_uuid: "5b6c4d1e-0000-4000-8000-00000000000c" },
  { server_uuid: "u", cluster: 'odd "name" <é>\n', namespace: "ключ" },
];

interface Outcome {
  bytes: Uint8Array;
  seq: number | undefined;
  clock: number | undefined;
  timeMs: number | undefined;
  level: string;
}

/** The full path, as the receiver runs it on a line that fits the cap. */
function fullPath(line: Uint8Array, formatter: LineFormatter): Outcome | undefined {
  const { record } = parseRecord(decoder.decode(line));
  if (!record) return undefined;
  return {
    bytes: encoder.encode(formatter.format(record)),
    seq: Number.isSafeInteger(record.seq) ? record.seq as number : undefined,
    clock: typeof record.clock === "number" ? record.clock : undefined,
    timeMs: recordTimeMs(record),
    level: levelOf(record),
  };
}

function fastPath(line: Uint8Array, splicer: LineSplicer): Outcome | undefined {
  // Surrounding bytes, so that a scan reading past the line's end would show.
  const padded = new Uint8Array(line.length + 8).fill(0x2c);
  padded.set(line, 4);
  const out = new Uint8Array(line.length + splicer.extraBytes);
  const length = splicer.splice(padded, 4, 4 + line.length, out);
  const outcome = length < 0 ? undefined : {
    bytes: out.slice(0, length),
    seq: splicer.seq,
    clock: splicer.clock,
    timeMs: splicer.timeMs(),
    level: splicer.level,
  };
  // The same when the scan has to find the line's end (the line, then `\n` and more bytes), written further on in
  // a buffer holding other bytes (as the store's batch does).
  padded[4 + line.length] = 0x0a;
  const at = 5;
  const shared = new Uint8Array(at + out.length).fill(0x2c);
  const found = splicer.splice(padded, 4, padded.length, shared, false, at);
  assert.equal(found, length, "the same outcome when the line's end is found by the scan");
  if (found >= 0) {
    assert.equal(splicer.lineEnd, 4 + line.length);
    assert.deepEqual(shared.slice(at, at + found), outcome!.bytes);
    assert.deepEqual(shared.slice(0, at), new Uint8Array(at).fill(0x2c), "nothing written before `at`");
  }
  return outcome;
}

Deno.test("the fast path gives the full path's line and fields, or leaves the line to it", () => {
  const splicers = IDENTITIES.map((identity) => new LineSplicer(identity));
  const formatters = IDENTITIES.map((identity) => new LineFormatter(identity));
  const taken = { go: 0, js: 0, other: 0 };
  const seen = { go: 0, js: 0, other: 0 };
  for (let seq = 0; seq < 6000; seq++) {
    const record = talosRecord(seq);
    const go = encoder.encode(goMarshal(record, chance(0.2)));
    const js = encoder.encode(jsSorted(record));
    const lines: [keyof typeof taken, Uint8Array][] = [
      ["go", go],
      ["js", js],
      ["other", mutate(go)],
      ["other", mutate(mutate(js))],
      ["other", encoder.encode(rewrite(decoder.decode(go)))],
    ];
    for (const [kind, line] of lines) {
      const who = seq % IDENTITIES.length;
      const fast = fastPath(line, splicers[who]);
      seen[kind]++;
      if (!fast) continue;
      taken[kind]++;
      const full = fullPath(line, formatters[who]);
      const text = decoder.decode(line);
      assert.ok(full, `the fast path took a line the full path refuses: ${text}`);
      assert.equal(decoder.decode(fast.bytes), decoder.decode(full.bytes), `line ${text}`);
      assert.deepEqual(fast.bytes, full.bytes, `bytes of ${text}`);
      assert.deepEqual({ ...fast, bytes: 0 }, { ...full, bytes: 0 }, `fields of ${text}`);
    }
  }
  // The generator reaches both outcomes on every kind of line (Talos's plain records always take the fast path).
  for (const kind of ["go", "js", "other"] as const) {
    assert.ok(taken[kind] > seen[kind] / 10 && taken[kind] < seen[kind], `${kind}: ${taken[kind]} of ${seen[kind]}`);
  }
});

Deno.test("Talos's own records take the fast path", () => {
  const splicer = new LineSplicer(IDENTITIES[0]);
  const formatter = new LineFormatter(IDENTITIES[0]);
  for (const msg of ["eth0: link up\n", "a <b> & c\u2028", 'tab\there "q" \\ é 😀', "\u0001\u001f\u007f"]) {
    for (const oldGo of [false, true]) {
      const record = {
        clock: 1503112,
        facility: "kern",
        msg,
        priority: "info",
        seq: 812,
        "talos-level": "info",
        "talos-time": "2026-03-02T08:15:44.1038Z",
      };
      const line = encoder.encode(goMarshal(record, oldGo));
      const fast = fastPath(line, splicer);
      assert.ok(fast, decoder.decode(line));
      assert.deepEqual(fast, fullPath(line, formatter));
    }
  }
  const documented = '{"clock":1503112,"cluster":"prod","facility":"kern","machine":"prod-cp-1",' +
    '"metal_machine":"prod-cp-x7k2p","msg":"eth0: link up\\n","namespace":"default","priority":"info","seq":812,' +
    '"server_uuid":"0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f","talos-level":"info","talos-time":"2026-03-02T08:15:44.1038Z"}';
  const line = encoder.encode(
    '{"clock":1503112,"facility":"kern","msg":"eth0: link up\\n","priority":"info","seq":812,"talos-level":"info",' +
      '"talos-time":"2026-03-02T08:15:44.1038Z"}',
  );
  assert.equal(decoder.decode(fastPath(line, splicer)!.bytes), documented);
});

Deno.test("deep nesting, long numbers and invalid UTF-8 are left to the full path", () => {
  const splicer = new LineSplicer({ server_uuid: "u" });
  for (
    const text of [
      `{"a":${"[".repeat(40)}${"]".repeat(40)}}`,
      '{"a":1234567890123456}',
      '{"a":1.5}',
      '{"a":-0}',
      '{"a":"\\ud800"} ',
      '{"b":1,"a":2}',
      '{"a":1,"a":2}',
      '{"server_uuid":"x"}',
    ]
  ) assert.equal(fastPath(encoder.encode(text), splicer), undefined, text);
  assert.equal(fastPath(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]), splicer), undefined);
  assert.equal(
    fastPath(new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x7d]), splicer),
    undefined,
  );
});

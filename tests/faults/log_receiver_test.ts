/**
 * Hostile input on the kernel-log port of a real serve: every attack comes from a provisioned machine's own
 * address (raw sockets, `hostile_peer.py`), and good lines before and after it on the same connection must come
 * through. At the end: serve still provisions and answers `peers`, and the log path's counters agree exactly with
 * what serve printed and what the store holds, so no accepted line was lost.
 */
import { deepEqual, equal, ok } from "node:assert/strict";
import { FaultServe, faultTestIgnore, type Machine } from "../support/fault_serve.ts";
import { expectedLine } from "../support/talos_records.ts";
import { concatBytes } from "../../src/bytes.ts";

const RATE_LIMIT = 5000;
const MiB = 1024 * 1024;

/** A record as a Talos sender writes it, without seq (so records on parallel connections are never replays). */
function rec(msg: string): string {
  return `${JSON.stringify({ facility: "kern", msg: `${msg}\n`, priority: "info", "talos-level": "info" })}\n`;
}

/** The line serve prints for {@link rec}. */
function line(machine: Machine, msg: string): string {
  return expectedLine(
    { facility: "kern", msg: `${msg}\n`, priority: "info", "talos-level": "info" },
    { serverUuid: machine.uuid },
  );
}

const encoder = new TextEncoder();

function concat(...parts: (string | Uint8Array)[]): Uint8Array {
  return concatBytes(parts.map((part) => typeof part === "string" ? encoder.encode(part) : part));
}

Deno.test({
  name: "kernel-log port under attack: nothing crashes, every accepted line is printed and stored",
  ignore: faultTestIgnore("kernel-log faults"),
}, async (t) => {
  await using fault = await FaultServe.start("logs", {
    args: ["--log-rate-limit", String(RATE_LIMIT), "--log-retain-lines", "1000000"],
  });
  const serve = fault.serve;
  const [huge, garbage, json, utf8, dribbler, many, reset, flooder, quiet] = await fault.addMachines(9);
  const printed = (machine: Machine) => serve.stdout.filter((text) => text.includes(machine.uuid));
  const send = async (machine: Machine, data: string | Uint8Array) =>
    await fault.peer(["send", fault.server, "4001", machine.address, await fault.file(data)]);
  const waitPrinted = (machine: Machine, count: number) =>
    serve.waitFor(() => printed(machine).length >= count, 20_000, `${count} lines of ${machine.uuid}`);
  const baselineKiB = await fault.rssKiB();

  // One byte per second, in the background while the other cases run.
  const dribbleFile = await fault.file('{"msg":"d"}\n');
  const dribbleDone = fault.spawnPeer(["send", fault.server, "4001", dribbler.address, dribbleFile, "1", "1"]).output();
  await t.step("a 10 MiB line without a newline, and a 10 MiB msg: bounded, the connection goes on", async () => {
    await send(huge, concat(rec("before huge"), `{"msg":"${"x".repeat(10 * MiB)}`));
    await send(
      huge,
      concat(`{"facility":"kern","msg":"${"y".repeat(10 * MiB)}","priority":"info"}\n`, rec("after huge")),
    );
    await waitPrinted(huge, 3);
    const lines = printed(huge);
    equal(lines[0], line(huge, "before huge"));
    const cut = JSON.parse(lines[1]);
    equal(cut.truncated, true);
    ok(cut.msg.length < 16 * 1024 && cut.msg.startsWith("yyyy"), "the msg was cut to the line cap");
    equal(lines[2], line(huge, "after huge"));
    const rss = await fault.rssKiB();
    console.log(
      `RSS after two 10 MiB lines: ${(rss / 1024).toFixed(1)} MiB (baseline ${(baselineKiB / 1024).toFixed(1)})`,
    );
  });

  await t.step("binary garbage between two good lines", async () => {
    const noise = crypto.getRandomValues(new Uint8Array(64 * 1024));
    await send(garbage, concat(rec("before garbage"), noise, "\n", rec("after garbage")));
    await waitPrinted(garbage, 2);
    deepEqual(printed(garbage), [line(garbage, "before garbage"), line(garbage, "after garbage")]);
  });

  await t.step("JSON that is no record: array, number, null, string, 10,000-deep nesting", async () => {
    const deep = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;
    const deepObject = `${'{"a":'.repeat(10_000)}1${"}".repeat(10_000)}`;
    // Deep nesting that still fits the 16 KiB line cap, inside an object: parsed, printed and stored.
    const deepInRecord = `{"msg":"deep\\n","x":${"[".repeat(8000)}${"]".repeat(8000)}}`;
    await send(
      json,
      [rec("before json"), "[1,2]\n", "42\n", "null\n", '"text"\n', `${deep}\n`, `${deepObject}\n`, `${deepInRecord}\n`]
        .join("") + rec("after json"),
    );
    await serve.waitFor(() => printed(json).some((text) => text.includes("after json")), 20_000, "after json");
    const lines = printed(json);
    equal(lines[0], line(json, "before json"));
    equal(lines.at(-1), line(json, "after json"));
    // The deep record is either printed whole or counted as malformed; never a crash.
    console.log(`the 8,000-deep array inside a record was ${lines.length === 3 ? "printed" : "skipped"}`);
    ok(lines.length === 2 || (lines.length === 3 && JSON.parse(lines[1]).msg === "deep\n"), lines.join("\n"));
  });

  await t.step("invalid UTF-8 becomes U+FFFD; the line is kept", async () => {
    const bad = concat('{"facility":"kern","msg":"bad ', new Uint8Array([0xff, 0xfe, 0x20, 0xc0, 0xaf, 0x20]));
    const surrogate = new Uint8Array([0xed, 0xa0, 0x80]);
    await send(utf8, concat(rec("before utf8"), bad, surrogate, ' end"}\n', rec("after utf8")));
    await waitPrinted(utf8, 3);
    const lines = printed(utf8);
    equal(lines[0], line(utf8, "before utf8"));
    const kept = JSON.parse(lines[1]);
    ok(kept.msg.startsWith("bad \ufffd") && kept.msg.endsWith(" end"), kept.msg);
    ok(!/[\ud800-\udfff]/.test(kept.msg.replace(/[\ud800-\udbff][\udc00-\udfff]/g, "")), "no lone surrogate");
    equal(lines[2], line(utf8, "after utf8"));
  });

  await t.step("1,000 concurrent connections from one machine", async () => {
    const before = (await fault.counters()).receiver.open;
    const holder = fault.spawnPeer(["hold", fault.server, "4001", many.address, "1000", "conn"]);
    const reader = holder.stdout.pipeThrough(new TextDecoderStream()).getReader();
    const { value } = await reader.read();
    deepEqual(JSON.parse(value!.trim()), { open: 1000 });
    const deadline = Date.now() + 20_000;
    while ((await fault.counters()).receiver.open < before + 1000) {
      ok(Date.now() < deadline, "serve did not take all 1,000 connections");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    const openKiB = await fault.rssKiB();
    const writer = holder.stdin.getWriter();
    await writer.write(encoder.encode("go\n"));
    await writer.close();
    while (!(await reader.read()).done);
    const [status, errors] = await Promise.all([holder.status, new Response(holder.stderr).text()]);
    ok(status.success, errors);
    await waitPrinted(many, 1000);
    const msgs = new Set(printed(many).map((text) => JSON.parse(text).msg));
    equal(msgs.size, 1000);
    for (let i = 0; i < 1000; i++) ok(msgs.has(`conn ${i}\n`));
    console.log(
      `RSS with 1,000 open connections: ${(openKiB / 1024).toFixed(1)} MiB ` +
        `(baseline ${(baselineKiB / 1024).toFixed(1)} MiB; after they closed ${
          ((await fault.rssKiB()) / 1024).toFixed(1)
        })`,
    );
  });

  await t.step("a connection reset in the middle of a line", async () => {
    await fault.peer([
      "reset",
      fault.server,
      "4001",
      reset.address,
      await fault.file(rec("before reset") + '{"facility":"kern","msg":"half'),
    ]);
    await waitPrinted(reset, 1);
    await new Promise((resolve) => setTimeout(resolve, 300));
    deepEqual(printed(reset), [line(reset, "before reset")]);
  });

  await t.step("a flood from one machine: cut to the rate limit, another machine's lines keep arriving", async () => {
    const seen = new Map<number, number>();
    let scanned = serve.stdout.length;
    const tricklePeer = fault.spawnPeer(["trickle", fault.server, "4001", quiet.address, "30", "0.1", "trickle"]);
    const floodPeer = fault.spawnPeer(["flood", fault.server, "4001", flooder.address, "3", "flood"]);
    const done = Promise.all([tricklePeer.output(), floodPeer.output()]);
    let finished = false;
    done.finally(() => finished = true);
    while (!finished || seen.size < 30) {
      for (; scanned < serve.stdout.length; scanned++) {
        const match = /"trickle (\d+) sent=(\d+)\\n"/.exec(serve.stdout[scanned]);
        if (match) seen.set(Number(match[1]), Date.now() - Number(match[2]));
      }
      if (finished && seen.size < 30) {
        await serve.waitFor(() => printed(quiet).length >= 30, 5_000, "all trickle lines");
        continue;
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const [trickleOut, floodOut] = await done;
    ok(trickleOut.success && floodOut.success, new TextDecoder().decode(floodOut.stderr));
    const sent = JSON.parse(new TextDecoder().decode(floodOut.stdout)).sent as number;
    const delays = [...seen.values()];
    const maxDelay = Math.max(...delays);
    const counters = await fault.counters();
    const flooded = printed(flooder).length;
    console.log(
      `flood: ${sent} lines sent in 3 s, ${flooded} kept, ${counters.receiver.rateLimited} dropped by the limit ` +
        `of ${RATE_LIMIT}/s; the other machine's 30 lines: max delay ${maxDelay} ms`,
    );
    equal(flooded + counters.receiver.rateLimited, sent, "every flood line was kept or counted as dropped");
    ok(flooded <= RATE_LIMIT * 5, `${flooded} kept: more than the limit allows`);
    ok(maxDelay < 1000, `a quiet machine's line waited ${maxDelay} ms`);
    ok(serve.stderr.some((text) => text.includes("over the kernel-log rate limit")), "the drops are reported");
  });

  await t.step("the dribbler's line arrives whole", async () => {
    const { success, stderr } = await dribbleDone;
    ok(success, new TextDecoder().decode(stderr));
    await waitPrinted(dribbler, 1);
    deepEqual(printed(dribbler).map((text) => JSON.parse(text).msg), ["d"]);
  });

  await t.step("serve is alive, and counters, output and store agree", async () => {
    await fault.assertAlive();
    const counters = await fault.counters();
    const logLines = serve.stdout.filter((text) => text.includes('"server_uuid"'));
    equal(counters.receiver.accepted, logLines.length, "every accepted line was printed");
    equal(counters.stdout.dropped, 0);
    equal(counters.store.failed, 0);
    equal(counters.store.pruned, 0);
    equal(counters.store.stored, logLines.length, "every accepted line was stored");
    for (const machine of [huge, garbage, json, utf8, dribbler, many, reset, flooder, quiet]) {
      deepEqual(fault.storedLines(machine.uuid), printed(machine), `stored lines of ${machine.uuid}`);
    }
    ok(serve.stderr.some((text) => text.includes('"level":"DEBUG"')), "serve logs below info (--log-level trace)");
    fault.assertNoSecrets();
  });
});

import { deepEqual, equal, rejects, throws } from "node:assert/strict";
import { UsageError } from "../errors.ts";
import { LINES, storeLine, UUID_A, UUID_B } from "../logs/sample_lines.ts";
import { BATCH_MS } from "../logs/store.ts";
import { controlGet } from "./client.ts";
import { logsPath, parseLogsQuery } from "./logs_route.ts";
import { logsDaemon } from "../../tests/support/logs_daemon.ts";

const { aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape } = LINES;
const ALL = [aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape];

const lines = (...picked: string[]) => picked.map((line) => `${line}\n`).join("");

Deno.test("logsPath and parseLogsQuery agree on every field", () => {
  const request = {
    filter: {
      uuids: [UUID_A, UUID_B],
      cluster: "prod",
      namespace: "default",
      machine: "prod-cp-1",
      level: "warn" as const,
      sinceMs: Date.parse("2026-03-02T08:00:00.250Z"),
    },
    tail: 0,
    follow: true,
  };
  const path = logsPath(request);
  equal(
    path,
    `/v1/logs?uuid=${UUID_A}&uuid=${UUID_B}&cluster=prod&namespace=default&machine=prod-cp-1&level=warn` +
      "&since=2026-03-02T08%3A00%3A00.250Z&tail=0&follow=1",
  );
  deepEqual(parseLogsQuery(new URL(path, "http://x").searchParams, 0), request);
  equal(logsPath({ filter: {}, follow: false }), "/v1/logs");
  deepEqual(parseLogsQuery(new URLSearchParams(`uuid=${UUID_A.toUpperCase()}&since=10m&follow=false`), 600_000), {
    filter: { uuids: [UUID_A], sinceMs: 0 },
    follow: false,
  });
});

Deno.test("parseLogsQuery names a bad parameter", () => {
  const bad: [string, RegExp][] = [
    ["uuid=nope", /malformed server UUID "nope"/],
    ["level=fatal", /level "fatal": want error, warn, info or debug/],
    ["since=soon", /since: "soon" is neither a duration nor an RFC 3339 time/],
    ["tail=-1", /tail "-1": want a whole number/],
    ["follow=yes", /follow "yes": want 1, true, 0 or false/],
    ["lines=5", /unknown parameter "lines": want uuid, cluster/],
  ];
  for (const [query, message] of bad) {
    throws(() => parseLogsQuery(new URLSearchParams(query), 0), (error) => {
      return error instanceof UsageError && message.test(error.message);
    });
  }
});

Deno.test("history: every filter against a real store", async () => {
  await using daemon = await logsDaemon(ALL);
  equal(await daemon.get("/v1/logs"), lines(...ALL));
  equal(await daemon.get(`/v1/logs?uuid=${UUID_A.toUpperCase()}`), lines(aLinkUp, aMulti, aEscape));
  equal(await daemon.get(`/v1/logs?uuid=${UUID_A}&uuid=${UUID_B}&tail=2`), lines(bOk, aEscape));
  equal(await daemon.get("/v1/logs?level=warn"), lines(bDisk, aMulti));
  equal(await daemon.get("/v1/logs?since=2026-03-02T08:17:00Z"), lines(aMulti, cDebug, bOk, aEscape));
  equal(await daemon.get("/v1/logs?tail=1"), lines(aEscape));
  equal(await daemon.get("/v1/logs?tail=0"), "");
  equal(await daemon.get("/v1/logs?cluster=staging"), lines(bDisk, bOk));
  equal(await daemon.get("/v1/logs?machine=prod-cp-1&tail=2"), lines(aMulti, aEscape));
  equal(await daemon.get("/v1/logs?namespace=default&level=error"), lines(bDisk));
  equal(await daemon.get("/v1/logs?cluster=none"), "");
  await rejects(daemon.get("/v1/logs?level=loud"), /answered 400: level "loud": want error, warn, info or debug/);
});

Deno.test("history larger than one piece arrives whole and in order; annotation filters reach far back", async () => {
  await using daemon = await logsDaemon(ALL);
  const many = Array.from({ length: 3000 }, (_, seq) => aLinkUp.replace('"seq":812', `"seq":${seq}`));
  for (const line of many) storeLine(daemon.logs, line);
  daemon.logs.flush();
  equal(await daemon.get(`/v1/logs?uuid=${UUID_A}&tail=3000`), lines(...many));
  // The staging lines are 3,000 lines back: the route asks for ever larger tails until it has them.
  equal(await daemon.get("/v1/logs?cluster=staging&tail=2"), lines(bDisk, bOk));
  equal(await daemon.get("/v1/logs?cluster=staging&tail=5"), lines(bDisk, bOk));
  equal(await daemon.get("/v1/logs?machine=prod-cp-1&tail=2"), lines(...many.slice(-2)));
});

/** Reads lines from a follow stream as they come. */
function lineReader(body: ReadableStream<Uint8Array>) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  return {
    async next(): Promise<string> {
      while (!buffered.includes("\n")) {
        const { value, done } = await reader.read();
        if (done) throw new Error("stream ended");
        buffered += value;
      }
      const end = buffered.indexOf("\n");
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      return line;
    },
    cancel: () => reader.cancel(),
    done: async () => (await reader.read()).done && buffered === "",
  };
}

Deno.test("follow: history, then new matching lines within 100 ms of receipt, then unsubscribed on disconnect", async () => {
  let subscribed = 0;
  await using daemon = await logsDaemon(ALL, (store) => ({
    query: (query) => store.query(query),
    subscribe(filter, listener) {
      subscribed++;
      const stop = store.subscribe(filter, listener);
      return () => {
        subscribed--;
        stop();
      };
    },
  }));
  const response = await controlGet(daemon.socket, `/v1/logs?machine=prod-cp-1&tail=1&follow=1`, "test");
  equal(response.headers.get("content-type"), "application/x-ndjson; charset=utf-8");
  const reader = lineReader(response.body!);
  equal(await reader.next(), aEscape);
  equal(subscribed, 1);
  const latencies: number[] = [];
  for (let seq = 900; seq < 910; seq++) {
    const line = aLinkUp.replace('"seq":812', `"seq":${seq}`);
    storeLine(daemon.logs, bOk); // another machine: not shown
    const received = performance.now();
    storeLine(daemon.logs, line);
    equal(await reader.next(), line);
    latencies.push(performance.now() - received);
  }
  const worst = Math.max(...latencies);
  console.log(`follow latency (store batch of ${BATCH_MS} ms included): worst ${worst.toFixed(1)} ms`);
  equal(worst < 100, true, `worst latency ${worst} ms`);
  await reader.cancel();
  for (let i = 0; i < 50 && subscribed > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
  equal(subscribed, 0);
});

Deno.test("follow: lines arriving while the history is sent come after it, none lost", async () => {
  await using daemon = await logsDaemon(ALL);
  const many = Array.from({ length: 2000 }, (_, seq) => aLinkUp.replace('"seq":812', `"seq":${seq}`));
  for (const line of many) storeLine(daemon.logs, line);
  daemon.logs.flush();
  const response = await controlGet(daemon.socket, `/v1/logs?uuid=${UUID_A}&follow=1`, "test");
  const later = aLinkUp.replace('"seq":812', '"seq":99999');
  storeLine(daemon.logs, later);
  daemon.logs.flush();
  const reader = lineReader(response.body!);
  const got: string[] = [];
  for (let i = 0; i < 3 + 2000 + 1; i++) got.push(await reader.next());
  deepEqual(got, [aLinkUp, aMulti, aEscape, ...many, later]);
  await reader.cancel();
});

Deno.test("follow ends when the daemon closes its control server", async () => {
  const daemon = await logsDaemon(ALL);
  const response = await controlGet(daemon.socket, "/v1/logs?tail=0&follow=1", "test");
  const reader = lineReader(response.body!);
  const ended = reader.done().catch(() => true);
  await daemon[Symbol.asyncDispose]();
  equal(await ended, true);
});

Deno.test("follow: a follower that stops reading is dropped once too far behind, not buffered without end", async () => {
  await using daemon = await logsDaemon(ALL, undefined, { maxBehindBytes: 256 * 1024 });
  const response = await controlGet(daemon.socket, `/v1/logs?uuid=${UUID_A}&tail=0&follow=1`, "test");
  const reader = response.body!.getReader();
  // Not reading: the socket's buffers fill, then the route's queue.
  for (let round = 0; round < 40; round++) {
    for (let seq = 0; seq < 500; seq++) {
      storeLine(daemon.logs, aLinkUp.replace('"seq":812', `"seq":${round * 500 + seq}`));
    }
    daemon.logs.flush();
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  let received = 0;
  await rejects(async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      received += value.length;
    }
  });
  equal(received < 20_000 * aLinkUp.length, true, `received ${received} bytes`);
});

import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { SqliteState } from "../state/sqlite.ts";
import { isRoot, skipUnless } from "../../tests/support/requirements.ts";
import { BATCH_LINES, BATCH_MS, HIGH_WATER_LINES, type LogInput, type LogRow, LogStore } from "./store.ts";
import type { TalosLevel } from "./record.ts";

const T0 = Date.UTC(2026, 2, 2, 8, 0, 0);
const LEVELS: TalosLevel[] = ["info", "warn", "error", "debug"];

function openState(dir = join(Deno.makeTempDirSync(), "state")): SqliteState {
  return SqliteState.open(dir, "create");
}

function line(uuid: string, seq: number, timeMs = T0 + seq * 1000, level: TalosLevel = LEVELS[seq % 4]): LogInput {
  const time = new Date(timeMs).toISOString();
  return {
    uuid,
    boot: "1772438400",
    seq,
    timeMs,
    level,
    line: `{"seq":${seq},"server_uuid":"${uuid}","talos-level":"${level}","talos-time":"${time}"}`,
  };
}

const seqs = (rows: readonly LogRow[]) => rows.map((row) => row.seq);

/** What the history holds, counted independently of the store: its lines by a query, its bytes by SQL. */
function actualHeld(state: SqliteState, store: LogStore): { lines: number; bytes: number } {
  const { bytes } = state.db.prepare("SELECT coalesce(sum(length(CAST(line AS BLOB))), 0) AS bytes FROM log_lines")
    .get() as { bytes: number };
  return { lines: store.query({}).length, bytes };
}

Deno.test("queries: machines, level and more severe, since, tail, after id", () => {
  using state = openState();
  const store = new LogStore(state.db);
  for (let seq = 0; seq < 20; seq++) {
    store.add(line("a", seq));
    store.add(line("b", seq));
  }
  store.close();
  assert.equal(store.counters.stored, 40);
  assert.deepEqual(seqs(store.query({ uuids: ["a"] })), [...Array(20).keys()]);
  assert.equal(store.query({}).length, 40);
  assert.equal(store.query({ uuids: [] }).length, 0);
  assert.equal(store.query({ uuids: ["a", "b"] }).length, 40);
  // warn means warn and error (seq % 4 = 1 or 2).
  assert.deepEqual(seqs(store.query({ uuids: ["a"], level: "warn" })), [1, 2, 5, 6, 9, 10, 13, 14, 17, 18]);
  assert.deepEqual(seqs(store.query({ uuids: ["a"], level: "error" })), [2, 6, 10, 14, 18]);
  assert.equal(store.query({ uuids: ["a"], level: "debug" }).length, 20);
  assert.deepEqual(seqs(store.query({ uuids: ["a"], sinceMs: T0 + 15_000 })), [15, 16, 17, 18, 19]);
  assert.deepEqual(seqs(store.query({ uuids: ["b"], tail: 3 })), [17, 18, 19]);
  assert.deepEqual(seqs(store.query({ uuids: ["b"], level: "error", tail: 2 })), [14, 18]);
  assert.equal(store.query({ tail: 0 }).length, 0);
  const last = store.query({ uuids: ["a"], tail: 5 });
  const after = store.query({ uuids: ["a"], afterId: last[1].id });
  assert.deepEqual(seqs(after), [17, 18, 19]);
  const row = after[0];
  assert.deepEqual({ ...row, id: 0 }, { ...line("a", 17), id: 0 });
});

Deno.test("retention keeps the newest lines per machine and drops old runs by age", () => {
  using state = openState();
  let now = T0 + 100_000;
  const store = new LogStore(state.db, { retainLines: 50, retainAgeMs: 60_000, now: () => now });
  for (let seq = 0; seq < 5000; seq++) store.add(line("a", seq, now));
  for (let seq = 0; seq < 30; seq++) {
    store.add(line("b", seq, now - (30 - seq) * 3000));
    store.flush(); // one run per line, so that age retention can take them one by one
  }
  assert.deepEqual(seqs(store.query({ uuids: ["a"] })), [...Array(50).keys()].map((i) => 4950 + i));
  assert.equal(store.query({ uuids: ["b"] }).length, 30);
  // b's records are 90 to 3 s old: the ones older than 60 s go.
  assert.equal(store.pruneByAge(), 10);
  assert.deepEqual(seqs(store.query({ uuids: ["b"] })), [...Array(20).keys()].map((i) => 10 + i));
  now += 3000;
  assert.equal(store.pruneByAge(), 1);
  assert.equal(store.counters.pruned, 4950 + 11);
  // The line count stays right after an age prune: 60 more lines for b keep the newest 50.
  for (let seq = 100; seq < 160; seq++) store.add(line("b", seq, now));
  store.close();
  assert.deepEqual(seqs(store.query({ uuids: ["b"] })), [...Array(50).keys()].map((i) => 110 + i));
});

Deno.test("retention removes whole runs, counting what was stored before serve started again", () => {
  const dir = join(Deno.makeTempDirSync(), "state");
  {
    using state = openState(dir);
    const store = new LogStore(state.db, { retainLines: 10 });
    for (let seq = 0; seq < 8; seq++) store.add(line("a", seq));
    store.close();
    assert.deepEqual(store.lastSeqs().map((row) => ({ ...row })), [{ uuid: "a", boot: "1772438400", maxSeq: 7 }]);
  }
  using state = openState(dir);
  const store = new LogStore(state.db, { retainLines: 10 });
  for (let seq = 8; seq < 12; seq++) store.add(line("a", seq));
  store.flush();
  // Runs of 8 and 4: removing the 8 would leave fewer than 10, so both stay (at most one batch over the limit).
  assert.deepEqual(seqs(store.query({ uuids: ["a"] })), [...Array(12).keys()]);
  for (let seq = 12; seq < 22; seq++) store.add(line("a", seq));
  store.close();
  assert.deepEqual(seqs(store.query({ uuids: ["a"] })), [...Array(10).keys()].map((i) => 12 + i));
  assert.equal(store.counters.pruned, 12);
});

Deno.test("what the history holds follows writes, both retentions and a restart, in UTF-8 bytes", () => {
  const dir = join(Deno.makeTempDirSync(), "state");
  let now = T0 + 100_000;
  {
    using state = openState(dir);
    const store = new LogStore(state.db, { retainLines: 20, retainAgeMs: 60_000, now: () => now });
    for (let seq = 0; seq < 15; seq++) store.add({ ...line("a", seq, now), line: `{"msg":"é ${seq}"}` });
    store.flush();
    assert.deepEqual(store.held(), actualHeld(state, store));
    assert.equal(store.held()!.lines, 15);
    for (let seq = 15; seq < 60; seq++) {
      store.add(line("a", seq, now));
      if (seq % 5 === 0) store.flush(); // runs of several lines, so that the per-machine limit removes whole runs
    }
    for (let seq = 0; seq < 10; seq++) {
      store.add(line("b", seq, now - 90_000));
      store.flush();
    }
    assert.deepEqual(store.held(), actualHeld(state, store));
    now += 1000;
    assert.equal(store.pruneByAge(), 10);
    assert.deepEqual(store.held(), actualHeld(state, store));
    store.close();
  }
  using state = openState(dir);
  const store = new LogStore(state.db, { retainLines: 20 });
  store.add(line("c", 1));
  store.flush();
  assert.deepEqual(store.held(), actualHeld(state, store), "what was there before is counted when the store opens");
  assert.ok(store.held()!.lines > 20);
  store.close();
});

Deno.test("line ids grow in commit order and continue after a given id across runs", () => {
  using state = openState();
  const store = new LogStore(state.db);
  for (let batch = 0; batch < 5; batch++) {
    for (let seq = batch * 3; seq < batch * 3 + 3; seq++) store.add(line(seq % 2 ? "a" : "b", seq));
    store.flush();
  }
  const all = store.query({});
  assert.equal(all.length, 15);
  assert.ok(all.every((row, i) => i === 0 || row.id > all[i - 1].id));
  for (const [i, row] of all.entries()) {
    assert.deepEqual(store.query({ afterId: row.id }).map((r) => r.id), all.slice(i + 1).map((r) => r.id));
  }
  assert.deepEqual(seqs(store.query({ tail: 4 })), seqs(all.slice(-4)));
  assert.deepEqual(
    seqs(store.query({ uuids: ["a"], afterId: all[4].id, tail: 2 })),
    seqs(all.filter((r) => r.uuid === "a").slice(-2)),
  );
  store.close();
});

Deno.test("subscribers get matching lines as they are stored, within the batch time, no polling", async () => {
  using state = openState();
  const store = new LogStore(state.db);
  const got: { rows: LogRow[]; at: number }[] = [];
  const stop = store.subscribe(
    { uuids: ["a"], level: "warn" },
    (rows) => got.push({ rows: [...rows], at: performance.now() }),
  );
  const all: LogRow[] = [];
  store.subscribe({}, (rows) => all.push(...rows));
  const sent = performance.now();
  for (let seq = 0; seq < 8; seq++) store.add(line(seq < 4 ? "a" : "b", seq));
  for (let waited = 0; got.length === 0 && waited < 2000; waited += 5) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await new Promise((resolve) => setTimeout(resolve, BATCH_MS)); // nothing more comes
  assert.equal(got.length, 1);
  assert.deepEqual(seqs(got[0].rows), [1, 2]);
  assert.ok(got[0].at - sent < 100, `${got[0].at - sent} ms`);
  assert.ok(got[0].rows.every((row) => row.id > 0));
  assert.equal(all.length, 8);
  // Query, then subscribe in the same task: nothing missed, nothing twice.
  const history = store.query({ uuids: ["a"] });
  const followed: LogRow[] = [];
  store.subscribe({ uuids: ["a"] }, (rows) => followed.push(...rows));
  stop();
  store.add(line("a", 9));
  store.close();
  assert.deepEqual(seqs([...history, ...followed]), [0, 1, 2, 3, 9]);
  assert.equal(got.length, 1, "stopped subscriber got nothing more");
});

Deno.test("a failing database never throws into the receiver: lines are counted and still followed", () => {
  using state = openState();
  const store = new LogStore(state.db);
  const followed: LogRow[] = [];
  store.subscribe({}, (rows) => followed.push(...rows));
  store.subscribe({}, () => {
    throw new Error("a broken follower");
  });
  store.add(line("a", 1));
  store.flush();
  state.db.exec("DROP TABLE log_lines"); // every insert now fails
  store.add(line("a", 2));
  store.add(line("a", 3));
  store.close();
  assert.deepEqual(store.counters, { stored: 1, failed: 2, pruned: 0 });
  assert.deepEqual(followed.map((row) => [row.seq, row.id > 0]), [[1, true], [2, false], [3, false]]);
  assert.throws(() => store.query({}), /cannot read the log history/);
});

Deno.test({
  name: "a full disk for real (a 1 MiB tmpfs): lines not stored are counted, storing resumes when space returns",
  ignore: skipUnless("full disk store", [isRoot(), "root (mounting a tmpfs)"]),
  fn: async () => {
    const dir = Deno.makeTempDirSync();
    const mount = async (...args: string[]) => {
      const { success, stderr } = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).output();
      assert.ok(success, new TextDecoder().decode(stderr));
    };
    await mount("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", dir);
    try {
      Deno.writeFileSync(join(dir, "filler"), new Uint8Array(400 * 1024));
      using state = openState(join(dir, "state"));
      const store = new LogStore(state.db, { retainLines: 100_000 });
      const big = "x".repeat(2000);
      for (let seq = 0; seq < 2000; seq++) store.add({ ...line("a", seq), line: big });
      store.flush();
      assert.ok(store.counters.failed > 0, JSON.stringify(store.counters));
      assert.equal(store.counters.stored + store.counters.failed, 2000);
      assert.deepEqual(store.held(), actualHeld(state, store), "failed writes are not counted as held");
      // Space comes back: storing resumes.
      Deno.removeSync(join(dir, "filler"));
      store.add(line("a", 5000));
      store.close();
      assert.deepEqual(seqs(store.query({ afterId: 0 })).at(-1), 5000);
      assert.equal(store.counters.stored + store.counters.failed, 2001);
    } finally {
      await mount("umount", dir);
    }
  },
});

Deno.test("a backlog above the high-water mark holds receivers back until the worker catches up", async () => {
  using state = openState();
  const store = new LogStore(state.db);
  assert.equal(store.backlog(), undefined, "nothing waits");
  // Another writer holds the database, so the worker cannot keep up however fast it is.
  const other = new DatabaseSync(state.db.location()!);
  other.exec("BEGIN IMMEDIATE");
  for (let seq = 0; seq < HIGH_WATER_LINES * 2; seq++) store.add(line(`m${seq % 7}`, seq));
  const behind = store.backlog();
  assert.ok(behind, "a reader must wait");
  other.exec("COMMIT");
  other.close();
  await behind;
  assert.ok(store.counters.stored > 0, "the worker wrote while the reader waited");
  store.close();
  assert.equal(store.backlog(), undefined, "a closed store holds nobody back");
  assert.equal(store.counters.stored, HIGH_WATER_LINES * 2);
  assert.equal(store.counters.failed, 0);
});

Deno.test("the tee gets every line in order with its \\n, stored or not, by passOn at the latest", () => {
  using state = openState();
  const teed: string[] = [];
  let teedLines = 0;
  const decoder = new TextDecoder();
  const store = new LogStore(state.db, {
    tee: (bytes, lines) => {
      teed.push(decoder.decode(bytes));
      teedLines += lines;
    },
  });
  const added: LogInput[] = [];
  const add = (input: LogInput) => (added.push(input), store.add(input));
  for (let seq = 0; seq < BATCH_LINES * 3 + 17; seq++) {
    add({ ...line(seq % 3 ? "a" : "b", seq), line: `{"msg":"é ${"y".repeat(seq % 50)}","seq":${seq}}` });
    if (seq % 333 === 0) store.passOn();
  }
  store.passOn();
  assert.equal(teed.join(""), added.map((input) => `${input.line}\n`).join(""), "in order, as stored");
  store.flush();
  state.db.exec("DROP TABLE log_lines"); // not stored: teed all the same
  add(line("a", 90_001));
  store.close();
  add(line("a", 90_002)); // a closed store takes no line: teed all the same
  assert.equal(teed.join(""), added.map((input) => `${input.line}\n`).join(""));
  assert.equal(teedLines, added.length);
  assert.deepEqual(store.counters, { stored: added.length - 2, failed: 2, pruned: 0 });
});

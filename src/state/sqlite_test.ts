import { deepEqual, equal, throws } from "node:assert/strict";
import { join } from "node:path";
import { SqliteState, STATE_FILE } from "./sqlite.ts";

Deno.test("the state is created once, with a 0700 folder and a 0600 file, and read back unchanged", () => {
  const dir = join(Deno.makeTempDirSync(), "state");
  const first = (() => {
    using state = SqliteState.open(dir, "create");
    return state.installation();
  })();
  equal(Deno.statSync(dir).mode! & 0o777, 0o700);
  equal(Deno.statSync(join(dir, STATE_FILE)).mode! & 0o777, 0o600);
  equal(Uint8Array.fromBase64(first.installationId).length, 32);
  equal(first.privateKey.length, 32);
  equal(first.joinToken, undefined);
  using again = SqliteState.open(dir, "create");
  deepEqual(again.installation(), first);
  using readOnly = SqliteState.open(dir, "read");
  deepEqual(readOnly.installation(), first);
});

Deno.test("processes starting at once agree on one installation", async () => {
  const dir = join(Deno.makeTempDirSync(), "state");
  const module = new URL("./sqlite.ts", import.meta.url).href;
  const script = `import { SqliteState } from ${JSON.stringify(module)};
    using state = SqliteState.open(${JSON.stringify(dir)}, "create");
    console.log(state.installation().installationId);`;
  const runs = await Promise.all(
    Array.from(
      { length: 6 },
      () => new Deno.Command(Deno.execPath(), { args: ["eval", script], stdout: "piped", stderr: "piped" }).output(),
    ),
  );
  const ids = runs.map(({ stdout, stderr, success }) => {
    equal(success, true, new TextDecoder().decode(stderr));
    return new TextDecoder().decode(stdout).trim();
  });
  equal(new Set(ids).size, 1, ids.join(" "));
});

Deno.test("a corrupt database is reported with its path and left untouched", () => {
  const dir = Deno.makeTempDirSync();
  const path = join(dir, STATE_FILE);
  const garbage = new TextEncoder().encode("this is not an SQLite database, and must survive the attempt".repeat(100));
  Deno.writeFileSync(path, garbage);
  for (const mode of ["create", "read"] as const) {
    throws(() => SqliteState.open(dir, mode), (error: Error) => {
      equal(error.message.includes(path), true, error.message);
      equal(error.message.includes("left untouched"), true, error.message);
      return true;
    });
  }
  deepEqual(Deno.readFileSync(path), garbage);
});

Deno.test("reading a folder without a state fails and creates nothing", () => {
  const dir = Deno.makeTempDirSync();
  throws(() => SqliteState.open(dir, "read"), /no state in/);
  equal(SqliteState.existsIn(dir), false);
  deepEqual([...Deno.readDirSync(dir)], []);
});

Deno.test("the join token is stored and cleared", () => {
  using state = SqliteState.open(Deno.makeTempDirSync(), "create");
  state.installation();
  state.setJoinToken("token-1");
  equal(state.installation().joinToken, "token-1");
  state.setJoinToken(undefined);
  equal(state.installation().joinToken, undefined);
});

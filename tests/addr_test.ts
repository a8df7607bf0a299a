import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { SqliteState } from "../src/state/sqlite.ts";
import { runCli } from "./support/cli.ts";

const UUID = "0f3c5a9e-2b1d-4c7e-9f00-6a1b2c3d4e5f";
const ID = "Xr5Wp6KyWqzG0mQ3vN8Jt2bLc4dEf7gHi9jKl0mNoPs=";

/** A state folder holding `installationId`, a join token and one stored address. */
function makeState(): string {
  const dir = join(Deno.makeTempDirSync(), "state");
  using state = SqliteState.open(dir, "create");
  state.installation();
  state.db.prepare("UPDATE installation SET installation_id = ?, join_token = ?").run(ID, "s3cret token");
  state.db.prepare("INSERT INTO machines (uuid, address) VALUES (?, ?)").run(
    "00000000-0000-0000-0000-000000000001",
    "fd7d:e391:ac7d:b203::beef",
  );
  return dir;
}

Deno.test("addr prints the prefix and the server address", async () => {
  const result = await runCli(["addr", "--installation-id", ""]);
  deepEqual(result, {
    code: 0,
    stdout: "prefix fdae:41e4:649b:9303::/64\nserver_address fdae:41e4:649b:9303::1\n",
    stderr: "",
  });
});

Deno.test("addr prints one canonical line per UUID, in any letter case", async () => {
  const result = await runCli([
    "addr",
    "--installation-id",
    ID,
    UUID.toUpperCase(),
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
  ]);
  equal(result.code, 0, result.stderr);
  equal(
    result.stdout,
    `${UUID} fd7d:e391:ac7d:b203:9569:9070:f180:e190/64\n` +
      "ffffffff-ffff-ffff-ffff-ffffffffffff fd7d:e391:ac7d:b203:274d:9a84:1684:5eca/64\n",
  );
});

Deno.test("addr reads the state: stored addresses win, the join token goes into the kernel arguments", async () => {
  const dir = makeState();
  const result = await runCli([
    "addr",
    "--state-dir",
    dir,
    "--json",
    "--kernel-args",
    "--api-endpoint",
    "192.0.2.10:8081",
    "00000000-0000-0000-0000-000000000001",
    UUID,
  ]);
  equal(result.code, 0, result.stderr);
  deepEqual(JSON.parse(result.stdout), {
    prefix: "fd7d:e391:ac7d:b203::/64",
    server_address: "fd7d:e391:ac7d:b203::1",
    machines: [
      { uuid: "00000000-0000-0000-0000-000000000001", address: "fd7d:e391:ac7d:b203::beef/64", source: "stored" },
      { uuid: UUID, address: "fd7d:e391:ac7d:b203:9569:9070:f180:e190/64", source: "computed" },
    ],
    kernel_args: [
      "siderolink.api=grpc://192.0.2.10:8081?jointoken=s3cret%20token",
      "talos.logging.kernel=tcp://[fd7d:e391:ac7d:b203::1]:4001",
      "talos.events.sink=[fd7d:e391:ac7d:b203::1]:4002",
    ],
  });
  // A TLS endpoint is given and printed as `https://`, as Talos takes it; `grpc://` (like no scheme) is h2c.
  for (const endpoint of ["https://api.example.com:8081", "grpc://[2001:db8::1]:8081"]) {
    const result = await runCli(["addr", "--state-dir", dir, "--kernel-args", "--api-endpoint", endpoint]);
    equal(result.code, 0, result.stderr);
    equal(result.stdout.split(" ")[0], `siderolink.api=${endpoint}?jointoken=s3cret%20token`);
  }
  const viaEnv = await runCli(["addr", "--kernel-args", "--log-port", "5001", "--event-port", "5002"], {
    SIDEROLINK_STATE_DIR: dir,
  });
  equal(viaEnv.code, 0, viaEnv.stderr);
  equal(
    viaEnv.stdout,
    "talos.logging.kernel=tcp://[fd7d:e391:ac7d:b203::1]:5001 talos.events.sink=[fd7d:e391:ac7d:b203::1]:5002\n",
  );
});

Deno.test("addr rejects bad input with one line and exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["addr", "--installation-id", "x", "not-a-uuid"], /^siderolink: malformed server UUID "not-a-uuid"/],
    [["addr", "--installation-id", "has space"], /^siderolink: malformed installation ID "has space"/],
    [["addr", "--installation-id", "x", "--state-dir", "/tmp"], /exclude each other/],
    [["addr", "--installation-id", "x", "--log-port", "70000"], /'--log-port <port>' argument '70000' is invalid/],
    [["addr", "--installation-id", "x", "--api-endpoint", "nohost"], /'--api-endpoint <\[https:\/\/\]host:port>'/],
    [["addr", "--installation-id", "x", "--api-endpoint", "http://api:8081"], /or https:\/\/HOST:PORT \(TLS\)/],
    [["addr", "--bogus"], /unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const result = await runCli(args);
    equal(result.code, 2, args.join(" "));
    equal(result.stdout, "");
    equal(result.stderr.trim().split("\n").length, 1, result.stderr);
    match(result.stderr, message);
  }
});

Deno.test("addr without a state explains both options; a corrupt state is named", async () => {
  const empty = Deno.makeTempDirSync();
  const missing = await runCli(["addr", "--state-dir", empty]);
  equal(missing.code, 1);
  match(missing.stderr, /no state in/);
  Deno.writeFileSync(join(empty, "state.db"), new TextEncoder().encode("garbage".repeat(200)));
  const corrupt = await runCli(["addr", "--state-dir", empty]);
  equal(corrupt.code, 1);
  match(corrupt.stderr, new RegExp(`${join(empty, "state.db")}.*left untouched`));
  equal(corrupt.stderr.includes("    at "), false, "no stack trace");
});

Deno.test("help and version exit 0", async () => {
  const help = await runCli(["addr", "--help"]);
  equal(help.code, 0);
  match(help.stdout, /--kernel-args/);
  const version = await runCli(["--version"]);
  equal(version.code, 0);
  match(version.stdout, /^\d+\.\d+\.\d+\n$/);
});

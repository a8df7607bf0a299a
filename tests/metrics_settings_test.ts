/**
 * `--metrics-listen` as every flag: from the config file, the environment over the file, the flag over both; a bad
 * value is one line naming the setting (exit 2), an address that cannot be bound one line naming it (exit 1),
 * before serve touches the state or the system.
 */
import { equal, match } from "node:assert/strict";
import { join } from "node:path";
import { runCli } from "./support/cli.ts";

Deno.test("--metrics-listen: config file < environment < flag, bad values, a taken address", async () => {
  const work = await Deno.makeTempDir({ prefix: "siderolink-metrics-settings-" });
  using taken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  using alsoTaken = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const [first, second] = [`127.0.0.1:${taken.addr.port}`, `127.0.0.1:${alsoTaken.addr.port}`];
  const stateDir = join(work, "state");
  const config = join(work, "serve.yaml");
  const serve = (args: string[], env: Record<string, string> = {}) =>
    runCli(["serve", "--config", config, "--state-dir", stateDir, ...args], env);
  const refusedOnly = (stderr: string, listen: string) => {
    const lines = stderr.trim().split("\n");
    equal(lines.length, 1, stderr);
    match(lines[0], new RegExp(`^siderolink: cannot listen for metrics on ${listen}: .*in use`));
  };
  try {
    await Deno.writeTextFile(config, `metrics-listen: '${first}'\n`);
    let result = await serve([]);
    equal(result.code, 1);
    refusedOnly(result.stderr, first);
    result = await serve([], { SIDEROLINK_METRICS_LISTEN: second });
    refusedOnly(result.stderr, second);
    result = await serve(["--metrics-listen", first], { SIDEROLINK_METRICS_LISTEN: second });
    refusedOnly(result.stderr, first);
    equal(await Deno.stat(stateDir).then(() => true, () => false), false, "no state was made");

    result = await serve([], { SIDEROLINK_METRICS_LISTEN: "9091" });
    equal(result.code, 2);
    match(
      result.stderr,
      /^siderolink: option '--metrics-listen <addr:port>' value '9091' from env 'SIDEROLINK_METRICS_LISTEN' is invalid\. want HOST:PORT/,
    );
    await Deno.writeTextFile(config, "metrics-listen: 9091\n");
    result = await serve([]);
    equal(result.code, 2);
    match(result.stderr, /^siderolink: config .*serve\.yaml: metrics-listen: want HOST:PORT/);
  } finally {
    await Deno.remove(work, { recursive: true });
  }
});

import { deepEqual, equal, match } from "node:assert/strict";
import { join } from "node:path";
import { logsCommand } from "../src/cli/logs.ts";
import { LINES, STDIN_TEXT, storeLine, UUID_A, UUID_B, UUID_C } from "../src/logs/sample_lines.ts";
import { lineReader } from "./support/line_reader.ts";
import { logsDaemon } from "./support/logs_daemon.ts";

const { aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape } = LINES;
const ALL = [aLinkUp, bDisk, aMulti, cDebug, bOk, aEscape];
const lines = (...picked: string[]) => picked.map((line) => `${line}\n`).join("");

const ENTRY = [new URL("../cli.ts", import.meta.url).pathname, "logs"];

/** Runs `siderolink logs <args>` in a child process with `stdin` as its standard input. */
async function runLogs(args: string[], stdin = "") {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--frozen", ...ENTRY, ...args],
    env: { NO_COLOR: "1" },
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(stdin)).catch(() => {});
  await writer.close().catch(() => {});
  const { code, stdout, stderr } = await child.output();
  return { code, stdout: new TextDecoder().decode(stdout), stderr: new TextDecoder().decode(stderr) };
}

/** Runs the command in this process, on `stdin` read 13 bytes at a time (lines and characters split). */
async function runHere(args: string[], stdin = STDIN_TEXT, terminal = false): Promise<string> {
  const bytes = new TextEncoder().encode(stdin);
  let offset = 0;
  const input = {
    readSync(buffer: Uint8Array): number | null {
      if (offset >= bytes.length) return null;
      const count = Math.min(13, buffer.length, bytes.length - offset);
      buffer.set(bytes.subarray(offset, offset + count));
      offset += count;
      return count;
    },
  };
  let out = "";
  const decoder = new TextDecoder();
  const output = {
    write(chunk: Uint8Array): Promise<number> {
      out += decoder.decode(chunk, { stream: true });
      return Promise.resolve(chunk.length);
    },
    isTerminal: () => terminal,
  };
  await logsCommand(input, output).exitOverride().parseAsync(args, { from: "user" });
  return out;
}

const DMESG = {
  aLinkUp: "[    1.503112] kern: eth0: link up",
  bDisk: "[    2.000000] kern: sda: I/O error",
  aMulti: "[123456.789012] daemon: first\n[123456.789012] daemon: second\n[123456.789012] daemon: third",
  cDebug: "[    0.000000] user: no newline at the end",
  bOk: "[    3.000001] kern: ok",
  aEscape: "[    4.000000] kern: \\x1b[31mred\\x1b[0m\\x0d",
};

const PRETTY = {
  aLinkUp: "2026-03-02T08:15:44.103Z info  prod-cp-1 eth0: link up",
  bDisk: "2026-03-02T08:16:00.000Z error stage-w-1 sda: I/O error",
  aMulti: "2026-03-02T08:17:00.500Z warn  prod-cp-1 first\n" +
    "2026-03-02T08:17:00.500Z warn  prod-cp-1 second\n" +
    "2026-03-02T08:17:00.500Z warn  prod-cp-1 third",
  cDebug: `2026-03-02T08:18:00.000Z debug ${UUID_C} no newline at the end`,
  bOk: "2026-03-02T08:19:00.000Z info  stage-w-1 ok",
  aEscape: "2026-03-02T08:20:00.000Z info  prod-cp-1 \\x1b[31mred\\x1b[0m\\x0d",
};

Deno.test("--stdin through the CLI: documented lines pass byte-for-byte, malformed lines are skipped", async () => {
  deepEqual(await runLogs(["--stdin"], STDIN_TEXT), { code: 0, stdout: lines(...ALL), stderr: "" });
});

Deno.test("--stdin through the CLI: upper-case UUIDs, dmesg with a multi-line message", async () => {
  const result = await runLogs(["--stdin", UUID_A.toUpperCase(), "--format", "dmesg"], STDIN_TEXT);
  deepEqual(result, { code: 0, stdout: lines(DMESG.aLinkUp, DMESG.aMulti, DMESG.aEscape), stderr: "" });
});

Deno.test("--stdin follows a live pipe: each line is printed before the input ends", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--frozen", ...ENTRY, "--stdin", "--format", "dmesg", UUID_A],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  for (const [line, shown] of [[aLinkUp, DMESG.aLinkUp], [aEscape, DMESG.aEscape]]) {
    await writer.write(new TextEncoder().encode(`${bDisk}\n${line}\n`));
    equal((await reader.read()).value, `${shown}\n`);
  }
  await writer.close();
  equal((await reader.read()).done, true);
  equal((await child.status).code, 0);
});

Deno.test("--stdin formats: json, dmesg and pretty golden output", async () => {
  equal(await runHere(["--stdin", "--format", "json"]), lines(...ALL));
  equal(await runHere(["--stdin", "--format", "dmesg"]), lines(...Object.values(DMESG)));
  equal(await runHere(["--stdin", "--format", "pretty"]), lines(...Object.values(PRETTY)));
});

Deno.test("--stdin pretty is coloured on a terminal only", async () => {
  const coloured = await runHere(["--stdin", "--format", "pretty", UUID_B], STDIN_TEXT, true);
  const expected = Deno.noColor
    ? lines(PRETTY.bDisk, PRETTY.bOk)
    : lines("2026-03-02T08:16:00.000Z \x1b[31merror\x1b[0m stage-w-1 sda: I/O error", PRETTY.bOk);
  equal(coloured, expected);
  equal(await runHere(["--stdin", "--format", "pretty", UUID_B], STDIN_TEXT, false), lines(PRETTY.bDisk, PRETTY.bOk));
});

Deno.test("--stdin filters: UUIDs, cluster, namespace, machine, level, since, tail", async () => {
  equal(await runHere(["--stdin", UUID_B, UUID_C.toUpperCase()]), lines(bDisk, cDebug, bOk));
  equal(await runHere(["--stdin", "--cluster", "staging"]), lines(bDisk, bOk));
  equal(await runHere(["--stdin", "--namespace", "default"]), lines(aLinkUp, bDisk, aMulti, bOk, aEscape));
  equal(
    await runHere(["--stdin", "--machine", "prod-cp-1", "--format", "dmesg"]),
    lines(DMESG.aLinkUp, DMESG.aMulti, DMESG.aEscape),
  );
  equal(await runHere(["--stdin", "--cluster", "prod", "--machine", "stage-w-1"]), "");
  equal(await runHere(["--stdin", "--level", "error"]), lines(bDisk));
  equal(await runHere(["--stdin", "--level", "warn"]), lines(bDisk, aMulti));
  equal(await runHere(["--stdin", "--level", "info"]), lines(aLinkUp, bDisk, aMulti, bOk, aEscape));
  equal(await runHere(["--stdin", "--level", "debug"]), lines(...ALL));
  equal(await runHere(["--stdin", "--since", "2026-03-02T08:17:00Z"]), lines(aMulti, cDebug, bOk, aEscape));
  equal(await runHere(["--stdin", "--since", "2026-03-02T09:17:00+01:00", UUID_B]), lines(bOk));
  equal(await runHere(["--stdin", "--since", "100000d"]), lines(...ALL));
  equal(await runHere(["--stdin", "--since", "1m"]), "");
  equal(await runHere(["--stdin", "--tail", "2"]), lines(bOk, aEscape));
  equal(await runHere(["--stdin", "--tail", "2", UUID_A, "--format", "pretty"]), lines(PRETTY.aMulti, PRETTY.aEscape));
  equal(await runHere(["--stdin", "--tail", "-1"]), lines(...ALL));
  equal(await runHere(["--stdin", "--tail", "0"]), "");
  equal(await runHere(["--stdin", UUID_A], "garbage only\n{\n[]\n"), "");
});

Deno.test("usage errors: one line, exit code 2", async () => {
  const cases: [string[], RegExp][] = [
    [["--stdin", "--format", "xml"], /^siderolink: option '--format <format>' argument 'xml' is invalid/],
    [["--stdin", "--level", "loud"], /^siderolink: option '--level <level>' argument 'loud' is invalid/],
    [["--stdin", "--tail", "x"], /^siderolink: option '--tail <n>' argument 'x' is invalid\. want a whole number/],
    [["--stdin", "--since", "soon"], /argument 'soon' is invalid\. "soon" is neither a duration nor an RFC 3339/],
    [["--stdin", "not-a-uuid"], /^siderolink: malformed server UUID "not-a-uuid": want 8-4-4-4-12 hex digits/],
    [["--stdin", "--follow"], /^siderolink: option '--stdin' cannot be used with option '-f, --follow'/],
  ];
  for (const [args, message] of cases) {
    const result = await runLogs(args);
    equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    match(result.stderr, message);
    equal(result.stderr.trimEnd().split("\n").length, 1, result.stderr);
    equal(result.stdout, "");
  }
});

Deno.test("daemon down: one line naming the socket and what to try, exit code 1", async () => {
  const socket = join(Deno.makeTempDirSync(), "absent.sock");
  const result = await runLogs(["--control-socket", socket, UUID_A]);
  equal(result.code, 1);
  equal(result.stdout, "");
  equal(
    result.stderr,
    `siderolink: cannot reach the daemon at ${socket} (no such socket): is serve running? Pass its ` +
      "--control-socket, check that you may open the socket (root or its group), or filter saved output with --stdin\n",
  );
});

Deno.test("a closed pipe (| head -n 1) ends it quietly", async () => {
  const dir = Deno.makeTempDirSync();
  const [input, errors] = [join(dir, "input"), join(dir, "stderr")];
  await Deno.writeTextFile(input, STDIN_TEXT.repeat(20_000));
  const command = [Deno.execPath(), "run", "--allow-all", "--frozen", ...ENTRY, "--stdin"].map((arg) => `'${arg}'`)
    .join(" ");
  const { stdout } = await new Deno.Command("bash", {
    args: ["-c", `${command} < '${input}' 2> '${errors}' | head -n 1; echo "exit \${PIPESTATUS[0]}"`],
  }).output();
  equal(new TextDecoder().decode(stdout), `${aLinkUp}\nexit 0\n`);
  equal(await Deno.readTextFile(errors), "");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("from the daemon: formats and filters through the control socket", async () => {
  await using serve = await logsDaemon(ALL);
  const socket = ["--control-socket", serve.socket];
  deepEqual(await runLogs([...socket]), { code: 0, stdout: lines(...ALL), stderr: "" });
  deepEqual(await runLogs([...socket, UUID_A.toUpperCase(), "--format", "dmesg", "--tail", "2"]), {
    code: 0,
    stdout: lines(DMESG.aMulti, DMESG.aEscape),
    stderr: "",
  });
  deepEqual(await runLogs([...socket, "--cluster", "staging", "--format", "pretty", "--level", "warn"]), {
    code: 0,
    stdout: lines(PRETTY.bDisk),
    stderr: "",
  });
  deepEqual(await runLogs([...socket, "--since", "2026-03-02T08:18:00Z", "--machine", "stage-w-1"]), {
    code: 0,
    stdout: lines(bOk),
    stderr: "",
  });
});

Deno.test("from the daemon: --follow prints new lines within 100 ms of receipt", async () => {
  await using serve = await logsDaemon(ALL);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--frozen", ...ENTRY, "--control-socket", serve.socket, "-f", "--tail", "1"],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = lineReader(child.stdout);
  equal(await lines.next(), aEscape);
  const latencies: number[] = [];
  for (let seq = 1000; seq < 1010; seq++) {
    const line = aLinkUp.replace('"seq":812', `"seq":${seq}`);
    const received = performance.now();
    storeLine(serve.logs, line);
    equal(await lines.next(), line);
    latencies.push(performance.now() - received);
  }
  latencies.sort((a, b) => a - b);
  console.log(
    `logs -f latency, receipt to stdout: median ${latencies[5].toFixed(1)} ms, worst ${latencies[9].toFixed(1)} ms`,
  );
  equal(latencies[5] < 100, true, `median ${latencies[5]} ms`);
  child.kill();
  await lines.cancel();
  await child.status;
});

Deno.test("from the daemon: the daemon going away ends --follow with one line, exit code 1", async () => {
  const serve = await logsDaemon(ALL);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--frozen", ...ENTRY, "--control-socket", serve.socket, "-f", "--tail", "1"],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  equal(new TextDecoder().decode((await reader.read()).value), `${aEscape}\n`);
  const stderr = new Response(child.stderr).arrayBuffer();
  await serve[Symbol.asyncDispose]();
  equal((await reader.read()).done, true);
  const { code } = await child.status;
  equal(code, 1);
  match(
    new TextDecoder().decode(await stderr),
    new RegExp(
      `^siderolink: the daemon at ${serve.socket} ended the log stream \\(.*\\): it stopped, or this ` +
        "reader fell too far behind\n$",
    ),
  );
});

/**
 * The kernel-log tests once more with the receiver's fast path off (`SIDEROLINK_LOGS_FAST_PATH=0`: every line
 * through `JSON.parse` and the rebuilt line), so that the suite proves both paths: the rest of the suite runs
 * them with the fast path on, the default. The serve processes the tests start inherit the setting.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const LOG_TESTS = ["src/logs/receiver_test.ts", "tests/log_receiver_test.ts", "tests/faults/log_receiver_test.ts"];

Deno.test("the kernel-log tests pass on the full path too (SIDEROLINK_LOGS_FAST_PATH=0)", async () => {
  const root = fileURLToPath(new URL("..", import.meta.url));
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["test", "--allow-all", "--frozen", ...LOG_TESTS],
    cwd: root,
    env: { SIDEROLINK_LOGS_FAST_PATH: "0", NO_COLOR: "1" },
  }).output();
  const output = new TextDecoder().decode(stdout) + new TextDecoder().decode(stderr);
  const summary = output.match(/ok \| \d+ passed(?: \(\d+ steps?\))? \| 0 failed(?: \| (\d+) ignored)?/);
  if (code !== 0 || !summary || summary[1]) console.log(output); // failures, and why tests were ignored
  assert.equal(code, 0, "the kernel-log tests failed on the full path (their output is above)");
  assert.ok(summary, "the kernel-log tests gave no summary (their output is above)");
});

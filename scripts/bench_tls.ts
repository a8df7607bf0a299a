/**
 * Benchmark of the Provision API's TLS (`--api-tls-*`): what the handshake costs a machine that connects once per
 * call (as Talos does when it provisions), and what encryption costs calls on one connection. The same gRPC server
 * (tests/support/grpc_test_server.ts, a trivial handler) runs cleartext and with TLS, both behind the GOAWAY filter,
 * and Python grpcio drives both; the cleartext figures are the same-run baseline. The machine is shared and noisy,
 * so each figure is the median of REPEATS runs, TLS and cleartext taking turns.
 *
 * Run: `deno run -A scripts/bench_tls.ts [connections [calls]]`   (defaults 100 and 5,000)
 *
 * @module
 */

import { spawnTestServer } from "../tests/support/grpc_test_server.ts";
import { PYTHON } from "../tests/support/requirements.ts";
import { TestCa } from "../tests/support/test_ca.ts";

const REPEATS = 5;

const HAMMER = new URL("../tests/support/grpc_python_hammer.py", import.meta.url).pathname;

/** Calls per second of `connections` channels in a row, each on a new connection, `calls` calls each. */
async function rate(port: number, caFile: string | undefined, calls: number, connections: number): Promise<number> {
  const output = await new Deno.Command(PYTHON, {
    args: [HAMMER, `127.0.0.1:${port}`, String(calls), String(connections)],
    env: caFile ? { TLS_CA_FILE: caFile } : {},
    stdout: "piped",
    stderr: "piped",
  }).output();
  const result = JSON.parse(new TextDecoder().decode(output.stdout).trim().split("\n").at(-1)!);
  if (result.failed > 0) throw new Error(`${result.failed} calls failed: ${new TextDecoder().decode(output.stderr)}`);
  return result.calls / result.seconds;
}

/** Runs the benchmark and prints its figures. */
export async function benchTls(connections = 100, calls = 5_000): Promise<void> {
  await using ca = await TestCa.temporary();
  const issued = await ca.issue("api", ["localhost", "127.0.0.1"]);
  await using cleartext = await spawnTestServer({ mallocChecks: false });
  await using tls = await spawnTestServer({ mallocChecks: false, tls: issued });
  // The client times its calls only (not its start-up); a warm-up run each first.
  await rate(cleartext.port, undefined, 10, 1);
  await rate(tls.port, ca.caFile, 10, 1);
  const row = async (what: string, callsEach: number, count: number) => {
    const plains: number[] = [];
    const secures: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      plains.push(await rate(cleartext.port, undefined, callsEach, count));
      secures.push(await rate(tls.port, ca.caFile, callsEach, count));
    }
    const [plain, secure] = [median(plains), median(secures)];
    console.log(
      `${what}: TLS ${secure.toFixed(0)} calls/s, h2c ${plain.toFixed(0)} calls/s (same run), ratio ${
        (secure / plain).toFixed(2)
      } (medians of ${REPEATS})`,
    );
  };
  await row(`${connections} connections, 1 call each (a handshake per call)`, 1, connections);
  await row(`1 connection, ${calls} calls (16 in flight)`, calls, 1);
}

function median(values: number[]): number {
  return values.toSorted((a, b) => a - b)[Math.floor(values.length / 2)];
}

if (import.meta.main) {
  const [connections, calls] = Deno.args.map(Number);
  await benchTls(connections || undefined, calls || undefined);
}

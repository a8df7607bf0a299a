/**
 * A Provision service with a trivial handler, for the GOAWAY regression tests (`tests/grpc_goaway_test.ts`),
 * which run it in a child process under glibc's malloc checks so that a use-after-free in `node:http2` shows as
 * a crash. Each reply names the caller as the server saw it: `server_address` = the peer's address,
 * `grpc_peer_addr_port` = `[address]:port`, `server_endpoint` = the request's UUID; the UUID `slow` is
 * answered after 500 ms, and its arrival printed as `{"slow":"received"}` on stdout. SIGTERM shuts the server down gracefully (2 s grace) and exits 0.
 *
 * Usage: `deno run -A tests/support/grpc_test_server.ts [--unfiltered] [--tls-cert=FILE --tls-key=FILE] [HOST]`;
 * prints `{"port":N}` on stdout once it listens on HOST (default 127.0.0.1) at a free port. `--unfiltered` serves
 * through grpc-js's own listener, without the GOAWAY filter: the way to show the runtime defect the filter exists
 * for. `--tls-cert` and `--tls-key` serve TLS as `serve --api-tls-cert/--api-tls-key` does, reloading the pair
 * when the files change.
 *
 * @module
 */

import { formatHostPort } from "../../src/hostport.ts";
import * as grpc from "@grpc/grpc-js";
import { fileURLToPath } from "node:url";
import { type GrpcService, peerOf, startGrpcServer } from "../../src/grpc/server.ts";
import { loadService } from "../../src/grpc/service.ts";
import type { TlsFiles } from "../../src/grpc/tls_pair.ts";
import { ReloadingTlsPair } from "../../src/grpc/tls_reload.ts";

/** Where the Provision service is defined. */
export const PROVISION_PROTO = new URL("../../src/proto/provision.proto", import.meta.url);

const provision: GrpcService = {
  definition: loadService(PROVISION_PROTO, "sidero.link.ProvisionService"),
  implementation: {
    Provision: (call: grpc.ServerUnaryCall<{ node_uuid: string }, object>, callback: grpc.sendUnaryData<object>) => {
      const peer = peerOf(call);
      const reply = () =>
        callback(null, {
          server_endpoint: [call.request.node_uuid],
          server_address: peer.address,
          grpc_peer_addr_port: formatHostPort(peer.address, peer.port),
        });
      if (call.request.node_uuid === "slow") {
        console.log(JSON.stringify({ slow: "received" }));
        setTimeout(reply, 500);
      } else reply();
    },
  },
};

/** glibc's malloc debugging library (glibc 2.34+, package libc6), which `MALLOC_CHECK_` needs preloaded. */
export const MALLOC_DEBUG_LIBRARY = `/usr/lib/${Deno.build.arch}-linux-gnu/libc_malloc_debug.so.0`;

/** The `skipUnless` requirement of tests that run a server under {@link MALLOC_CHECKS}. */
export const MALLOC_DEBUG: [boolean, string] = [
  (() => {
    try {
      return Deno.statSync(MALLOC_DEBUG_LIBRARY).isFile;
    } catch {
      return false;
    }
  })(),
  `${MALLOC_DEBUG_LIBRARY} (glibc 2.34 or later, package libc6)`,
];

/** Environment under which glibc aborts on heap corruption and fills freed memory, so that a use-after-free shows. */
export const MALLOC_CHECKS: Record<string, string> = {
  LD_PRELOAD: MALLOC_DEBUG_LIBRARY,
  MALLOC_CHECK_: "3",
  MALLOC_PERTURB_: "165",
};

/** The test server running in a child process. Disposing it kills the child if it still runs. */
export interface TestServer extends AsyncDisposable {
  readonly port: number;
  readonly pid: number;
  /** Resolves when the child exits. */
  readonly status: Promise<Deno.CommandStatus>;
  /** Whether the child has not exited. */
  alive(): boolean;
  /** The child's resident memory in KiB (VmRSS). */
  rssKiB(): number;
  /** Resolves when the server has received a call with the UUID `slow` (it answers 500 ms later). */
  slowCallReceived(): Promise<void>;
}

/**
 * Starts this script in a child process on 127.0.0.1 at a free port, under {@link MALLOC_CHECKS} unless
 * `mallocChecks` is false; with TLS from `tls` when given.
 */
export async function spawnTestServer(
  options: { unfiltered?: boolean; mallocChecks?: boolean; tls?: TlsFiles } = {},
): Promise<TestServer> {
  const flags = [
    ...(options.unfiltered ? ["--unfiltered"] : []),
    ...(options.tls ? [`--tls-cert=${options.tls.certFile}`, `--tls-key=${options.tls.keyFile}`] : []),
  ];
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", fileURLToPath(import.meta.url), ...flags],
    env: options.mallocChecks === false ? {} : MALLOC_CHECKS,
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  let exited = false;
  const status = child.status.then((status) => (exited = true, status));
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await lines.read();
  if (!value) throw new Error(`test server exited before listening: ${JSON.stringify(await status)}`);
  const { port } = JSON.parse(value) as { port: number };
  return {
    port,
    pid: child.pid,
    status,
    alive: () => !exited,
    rssKiB: () => Number(/VmRSS:\s+(\d+) kB/.exec(Deno.readTextFileSync(`/proc/${child.pid}/status`))![1]),
    slowCallReceived: async () => {
      for (let read = await lines.read(); !read.value?.includes('"slow"'); read = await lines.read()) {
        if (read.done) throw new Error(`test server exited: ${JSON.stringify(await status)}`);
      }
    },
    [Symbol.asyncDispose]: async () => {
      if (!exited) child.kill("SIGKILL");
      await status;
      await lines.cancel();
    },
  };
}

async function listenUnfiltered(host: string): Promise<number> {
  const server = new grpc.Server();
  server.addService(provision.definition, provision.implementation);
  return await new Promise((resolve, reject) =>
    server.bindAsync(
      formatHostPort(host, 0),
      grpc.ServerCredentials.createInsecure(),
      (error, port) => error ? reject(error) : resolve(port),
    )
  );
}

if (import.meta.main) {
  const unfiltered = Deno.args.includes("--unfiltered");
  const host = Deno.args.find((arg) => !arg.startsWith("--")) ?? "127.0.0.1";
  const flag = (name: string) => Deno.args.find((arg) => arg.startsWith(`--${name}=`))?.slice(name.length + 3);
  const [certFile, keyFile] = [flag("tls-cert"), flag("tls-key")];
  if (unfiltered) {
    console.log(JSON.stringify({ port: await listenUnfiltered(host) }));
  } else {
    const tls = certFile && keyFile ? await ReloadingTlsPair.open({ certFile, keyFile }) : undefined;
    const server = await startGrpcServer({ host, port: 0, services: [provision], shutdownGraceMs: 2_000, tls });
    Deno.addSignalListener("SIGTERM", async () => {
      await server.shutdown();
      Deno.exit(0);
    });
    console.log(JSON.stringify({ port: server.port }));
  }
}

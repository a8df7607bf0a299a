/**
 * The daemon side of `logs` for tests: a real state database and log store holding some documented lines,
 * behind a real control server with the real `/v1/logs` route.
 *
 * @module
 */

import { join } from "node:path";
import { controlGet } from "../../src/control/client.ts";
import { type LogHistory, logsRoute, type LogsRouteOptions } from "../../src/control/logs_route.ts";
import { startControlServer } from "../../src/control/server.ts";
import { storeLine } from "../../src/logs/sample_lines.ts";
import { LogStore } from "../../src/logs/store.ts";
import { SqliteState } from "../../src/state/sqlite.ts";

/** Starts the daemon with `lines` stored; `wrap` may stand between the route and the store. */
export async function logsDaemon(
  lines: readonly string[],
  wrap: (store: LogStore) => LogHistory = (store) => store,
  options: LogsRouteOptions = {},
) {
  const dir = Deno.makeTempDirSync();
  const state = SqliteState.open(join(dir, "state"), "create");
  const logs = new LogStore(state.db);
  for (const line of lines) storeLine(logs, line);
  logs.flush();
  const socket = join(dir, "control.sock");
  const server = await startControlServer(socket, { "/v1/logs": logsRoute(wrap(logs), options) });
  return {
    socket,
    logs,
    /** The body of `GET path` over the control socket. */
    get: async (path: string) => await (await controlGet(socket, path, "test")).text(),
    async [Symbol.asyncDispose]() {
      await server.close();
      logs.close();
      state.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

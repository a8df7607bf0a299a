/**
 * `serve`: start-up in the order DESIGN.md gives (validate, state, device, reconcile, listen, announce), then
 * run until SIGTERM or SIGINT, then shut down in reverse.
 *
 * @module
 */

import { serverAddress } from "../addressing.ts";
import { bindWhenAvailable } from "../bind_retry.ts";
import { EventLineFeed, eventsRoute } from "../control/events_route.ts";
import { logsRoute } from "../control/logs_route.ts";
import { peersRoute } from "../control/peers.ts";
import { type ControlServer, startControlServer } from "../control/server.ts";
import { EventSink } from "../events/sink.ts";
import { eventSinkHandlers, eventSinkServiceDefinition } from "../events/service.ts";
import { ExcludedNetworks } from "../events/status.ts";
import { type GrpcServer, peerOf, startGrpcServer } from "../grpc/server.ts";
import { describeCertificate, dialHost } from "../grpc/tls_pair.ts";
import { ReloadingTlsPair } from "../grpc/tls_reload.ts";
import { formatHostPort, splitHostPort } from "../hostport.ts";
import { formatIPv6 } from "../ipv6.ts";
import { kernelArgs } from "../kernel_args.ts";
import { publicKeyOf } from "../keys.ts";
import { logger } from "../log.ts";
import { LogPipeline } from "../logs/pipeline.ts";
import type { MachineDirectory } from "../machines/directory.ts";
import { Telemetry } from "../metrics/telemetry.ts";
import { Provisioner } from "../provision/provisioner.ts";
import { provisionService } from "../provision/service.ts";
import { SqliteState } from "../state/sqlite.ts";
import { GrpcTunnel } from "../tunnel/service.ts";
import type { Device } from "../wireguard/device.ts";
import { openDevice } from "../wireguard/select.ts";
import { resolveEndpoint, type ServeConfig } from "./config.ts";
import { openHome } from "./home.ts";
import { PeerFollower, stalePeers } from "./peers.ts";

const log = logger(["serve"]);

/** How often peer GC looks for stale peers, at most (it also never waits longer than a tenth of its window). */
const PEER_GC_INTERVAL_MS = 60_000;

/** Runs the daemon until a stop signal; resolves after a clean shutdown. */
export async function runDaemon(config: ServeConfig): Promise<void> {
  const stop = stopSignal();
  const daemon = await Daemon.start(config);
  await stop;
  log.info("stopping");
  await daemon.stop();
}

/** A running daemon: every resource it opened, closed by {@linkcode Daemon.stop} in reverse order. */
export class Daemon {
  readonly #closers: { name: string; close: () => unknown }[] = [];

  /** Starts everything; on a failure, closes what was already open and rethrows. */
  static async start(config: ServeConfig): Promise<Daemon> {
    const daemon = new Daemon();
    try {
      await daemon.#start(config);
      return daemon;
    } catch (error) {
      await daemon.stop();
      throw error;
    }
  }

  async #start(config: ServeConfig): Promise<void> {
    // Metrics and health first, so that probes are answered (not ready) all through the start-up.
    const telemetry = Telemetry.start(config.metricsListen);
    this.#closers.push({ name: "metrics listener", close: () => telemetry.close() });

    // 1. Everything that can be checked before touching the system.
    const { endpoint, port: listenPort } = await resolveEndpoint(config.wireguardEndpoint);
    const api = splitHostPort(config.apiListen);
    const apiTls = config.apiTls && await ReloadingTlsPair.open(config.apiTls);
    if (apiTls) this.#closers.push({ name: "TLS file watcher", close: () => apiTls[Symbol.dispose]() });

    // 2. State: the history database in both homes, then the installation and machines where they live.
    const state = SqliteState.open(config.stateDir, "create");
    this.#closers.push({ name: "state", close: () => state.close() });
    const { installation, joinToken, directory, home } = await openHome(config, state, telemetry);
    this.#closers.push({ name: "machine directory", close: () => directory.close() });
    const server = formatIPv6(serverAddress(installation.installationId));

    // 3. Device.
    const device = openDevice(config.wireguardBackend, config.interfaceName);
    this.#closers.push({
      name: "device",
      close: () => config.cleanupOnExit ? device.deleteLink() : device.close(),
    });
    await device.ensureLink();
    await device.configure({ privateKey: installation.privateKey, listenPort });
    await device.ensureAddress(`${server}/64`);

    // 4. Peers as the directory says, now and whenever it changes them.
    await new PeerFollower(device, directory).start();
    telemetry.readiness.met("device");

    // 5. Listeners.
    const provisioner = new Provisioner({
      installationId: installation.installationId,
      serverPublicKey: await publicKeyOf(installation.privateKey),
      serverAddress: server,
      endpoints: [endpoint],
      joinToken,
      directory,
      device,
    });
    const tunnel = new GrpcTunnel({
      installationId: installation.installationId,
      wireguardPort: listenPort,
      identify: (address) => directory.identify(address),
    });
    this.#grpc(
      "Provision API",
      await startGrpcServer({
        host: api.host,
        port: api.port,
        services: [provisionService(provisioner, telemetry.counters.provisionCalls), tunnel.service()],
        tls: apiTls,
      }),
    );
    // Closed before the listener, so that its shutdown need not wait out the streams' grace.
    this.#closers.push({ name: "WireGuard-over-gRPC streams", close: () => tunnel.close() });
    const logs = await LogPipeline.start({
      hostname: server,
      port: config.logPort,
      identify: directory.identify,
      db: state.db,
      retainLines: config.logRetainLines,
      retainAgeMs: config.logRetainAgeMs,
      rateLimit: config.logRateLimit,
    });
    this.#closers.push({ name: "kernel-log receiver", close: () => logs.close() });
    telemetry.observe({ logs, device, tunnel });
    const eventLines = new EventLineFeed();
    const eventSink = new EventSink({
      directory,
      excluded: new ExcludedNetworks(config.excludedAddresses),
      write: (line) => {
        logs.writer.write(line);
        eventLines.publish(line);
      },
      counters: telemetry.counters.events,
    });
    this.#grpc(
      "event sink",
      await bindWhenAvailable(`events on ${formatHostPort(server, config.eventPort)}`, () =>
        startGrpcServer({
          host: server,
          port: config.eventPort,
          services: [{
            definition: eventSinkServiceDefinition(),
            implementation: eventSinkHandlers(eventSink, peerOf),
          }],
        })),
    );
    const control: ControlServer = await startControlServer(config.controlSocket, {
      "/v1/logs": logsRoute(logs.store),
      "/v1/events": eventsRoute(eventLines),
      "/v1/counters": () => Response.json({ logs: logs.counters }),
      "/v1/peers": peersRoute(device, directory),
    });
    this.#closers.push({ name: "control socket", close: () => control.close() });
    if (config.peerGcAfterMs !== undefined) this.#startPeerGc(device, directory, config.peerGcAfterMs);
    telemetry.readiness.met("listeners");
    // Closed first: not ready as soon as the shutdown begins.
    this.#closers.push({ name: "readiness", close: () => telemetry.readiness.unmet("stopping", "serve is stopping") });

    // 6. One line with the effective settings; never the private key or the join token.
    const apiHost = splitHostPort(endpoint).host;
    log.info("serving {settings}", {
      settings: {
        interface: config.interfaceName,
        backend: device.backend,
        wireguardEndpoint: endpoint,
        serverAddress: server,
        provisionApi: apiTls ? `https://${config.apiListen}` : config.apiListen,
        provisionApiTls: apiTls ? describeCertificate(apiTls.current) : "off",
        kernelLogs: formatHostPort(server, config.logPort),
        logRateLimit: config.logRateLimit ?? "off",
        events: formatHostPort(server, config.eventPort),
        controlSocket: config.controlSocket,
        metrics: config.metricsListen ?? "off",
        stateDir: config.stateDir,
        machines: directory.list().length,
        home,
        joinToken: joinToken ? "required (siderolink addr --kernel-args prints it)" : "not required",
        kernelArgs: kernelArgs({
          serverAddress: server,
          logPort: config.logPort,
          eventPort: config.eventPort,
          apiEndpoint: formatHostPort(apiTls ? dialHost(apiTls.current, apiHost) : apiHost, api.port),
          apiTls: apiTls !== undefined,
        }).join(" ") + (joinToken ? " (add ?jointoken=…: siderolink addr --kernel-args)" : ""),
      },
    });
  }

  #grpc(name: string, server: GrpcServer): void {
    this.#closers.push({ name, close: () => server.shutdown() });
  }

  #startPeerGc(device: Device, directory: MachineDirectory, afterMs: number): void {
    const sweep = async () => {
      try {
        const stale = stalePeers(await device.read(), directory.list(), new Date(), afterMs);
        if (stale.length === 0) return;
        await device.configure({
          peers: stale.map((record) => ({ publicKey: Uint8Array.fromBase64(record.publicKey!), remove: true })),
        });
        for (const record of stale) await directory.clearPublicKey(record.uuid, record.publicKey!);
        log.info("peer GC removed {count} peers: {uuids}", { count: stale.length, uuids: stale.map((r) => r.uuid) });
      } catch (error) {
        log.error("peer GC failed: {error}", { error: (error as Error).message });
      }
    };
    const timer = setInterval(sweep, Math.min(PEER_GC_INTERVAL_MS, Math.max(1000, afterMs / 10)));
    this.#closers.push({ name: "peer GC", close: () => clearInterval(timer) });
  }

  /** Closes everything that was opened, last first; a failing step is logged and the rest still run. */
  async stop(): Promise<void> {
    for (const { name, close } of this.#closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        log.error("closing the {name} failed: {error}", { name, error: (error as Error).message });
      }
    }
  }
}

/** Resolves on the first SIGTERM or SIGINT; a second one exits at once. */
function stopSignal(): Promise<void> {
  return new Promise((resolve) => {
    let received = false;
    const onSignal = () => {
      if (received) Deno.exit(1);
      received = true;
      resolve();
    };
    Deno.addSignalListener("SIGTERM", onSignal);
    Deno.addSignalListener("SIGINT", onSignal);
  });
}

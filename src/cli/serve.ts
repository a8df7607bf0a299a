/**
 * `siderolink serve`: the daemon's flags. Each flag can also come from `SIDEROLINK_<FLAG>` in the environment
 * and from `--config FILE`; flags win over the environment, the environment over the file.
 *
 * @module
 */

import { Command, InvalidArgumentError, Option } from "commander";
import { UsageError } from "../errors.ts";
import { ExcludedNetworks } from "../events/status.ts";
import { apiTlsFiles } from "../grpc/tls_pair.ts";
import type { ServeConfig } from "../serve/config.ts";
import { applyConfigFile } from "./config_file.ts";
import {
  DEFAULT_CONTROL_SOCKET,
  DEFAULT_EVENT_PORT,
  DEFAULT_LOG_PORT,
  DEFAULT_STATE_DIR,
  envName,
} from "./defaults.ts";
import { parseCount, parseDurationFlag, parseHostPort, parsePort } from "./options.ts";

/** Builds the `serve` subcommand. */
export function serveCommand(): Command {
  const command = new Command("serve").description(
    "run the SideroLink server: WireGuard interface, Provision API, kernel-log receiver and event sink",
  );
  const flag = (flags: string, description: string) => {
    const option = new Option(flags, description);
    return option.env(envName(option.long!.slice(2)));
  };
  command
    .addOption(new Option("--config <file>", "read settings from a YAML or JSON file").env("SIDEROLINK_CONFIG"))
    .addOption(flag("--state-dir <dir>", "state folder").default(DEFAULT_STATE_DIR))
    .addOption(
      flag("--wireguard-endpoint <host:port>", "WireGuard endpoint advertised to machines; its port is the listen port")
        .argParser(parseHostPort),
    )
    .addOption(
      flag("--wireguard-backend <backend>", "WireGuard implementation").choices(["auto", "kernel", "userspace"])
        .default("auto"),
    )
    .addOption(flag("--interface <name>", "WireGuard interface name").default("siderolink").argParser(parseInterface))
    .addOption(
      flag("--api-listen <addr:port>", "Provision API (h2c; TLS with --api-tls-*)").default("[::]:8081").argParser(
        parseHostPort,
      ),
    )
    .addOption(flag("--api-tls-cert <file>", "serve the Provision API over TLS with this PEM certificate (chain)"))
    .addOption(flag("--api-tls-key <file>", "the PEM private key of --api-tls-cert; both are reloaded when changed"))
    .addOption(
      flag("--log-port <port>", "kernel-log port on the tunnel address").default(DEFAULT_LOG_PORT).argParser(parsePort),
    )
    .addOption(
      flag("--event-port <port>", "event sink port on the tunnel address").default(DEFAULT_EVENT_PORT).argParser(
        parsePort,
      ),
    )
    .addOption(flag("--join-token <token>", "token machines must present (default: generated once and stored)"))
    .addOption(flag("--join-token-file <file>", "read the join token from a file"))
    .addOption(new Option("--no-join-token", "accept machines without a join token").env("SIDEROLINK_NO_JOIN_TOKEN"))
    .addOption(
      flag("--inventory <file>", "YAML list of known machines (uuid, namespace, cluster, metalMachine, machine)"),
    )
    .addOption(
      flag("--exclude-addresses <cidrs>", "comma-separated CIDRs left out of the addresses machines report")
        .argParser(parseCidrList),
    )
    .addOption(flag("--accept <which>", "which machines may provision").choices(["any", "known"]).default("any"))
    .addOption(flag("--control-socket <path>", "control API socket for peers and logs").default(DEFAULT_CONTROL_SOCKET))
    .addOption(
      flag("--peer-gc-after <duration>", "remove peers idle (or never up) this long").argParser(parseDurationFlag),
    )
    .addOption(flag("--log-retain-lines <n>", "kernel-log lines kept per machine").default(5000).argParser(parseCount))
    .addOption(
      flag("--log-retain-age <duration>", "kernel-log lines kept this long").default(30 * 86_400_000, "30d")
        .argParser(parseDurationFlag),
    )
    .addOption(
      flag("--log-rate-limit <lines>", "kernel-log lines per second per machine; more are dropped and counted")
        .argParser(parseCount),
    )
    .addOption(
      flag("--metrics-listen <addr:port>", "serve /metrics, /healthz and /readyz over HTTP there (default: off)")
        .argParser(parseHostPort),
    )
    .addOption(flag("--cleanup-on-exit", "remove the interface and its peers on exit"))
    .addOption(
      flag("--kubernetes", "keep the installation and machines in Kubernetes (Sidero's Secret and ServerBindings)"),
    )
    .addOption(flag("--kubeconfig <file>", "with --kubernetes: kubeconfig (default: KUBECONFIG, else in-cluster)"))
    .addOption(
      flag("--secret-namespace <namespace>", "with --kubernetes: namespace of the siderolink Secret").default(
        "default",
      ),
    )
    .action(async (options: Record<string, unknown>) => {
      if (typeof options.config === "string") applyConfigFile(command, options.config);
      // Loaded here, not at the top, so that the other commands start without gRPC and protobuf.
      const { runDaemon } = await import("../serve/daemon.ts");
      await runDaemon(toConfig(command.opts()));
    });
  return command;
}

/** Interface names are at most 15 bytes (IFNAMSIZ) without `/`, spaces or `:`. */
function parseInterface(text: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(text)) {
    throw new InvalidArgumentError("want 1 to 15 letters, digits, '_', '.' or '-'.");
  }
  return text;
}

/** A comma-separated list of CIDRs, each checked as the event sink will use it. */
function parseCidrList(text: string): string[] {
  const cidrs = text.split(",").map((cidr) => cidr.trim()).filter((cidr) => cidr !== "");
  try {
    new ExcludedNetworks(cidrs);
  } catch (error) {
    throw new InvalidArgumentError(`${(error as Error).message}.`);
  }
  return cidrs;
}

function toConfig(options: Record<string, unknown>): ServeConfig {
  if (options.kubernetes === true) {
    // The ServerBindings are the inventory, and a peer lives as long as its binding.
    for (const [key, flag] of [["inventory", "--inventory"], ["peerGcAfter", "--peer-gc-after"]] as const) {
      if (options[key] !== undefined) throw new UsageError(`${flag} does not apply with --kubernetes`);
    }
    if (options.accept === "known") throw new UsageError("--accept known does not apply with --kubernetes");
  } else if (options.kubeconfig !== undefined) {
    throw new UsageError("--kubeconfig needs --kubernetes");
  }
  return {
    stateDir: options.stateDir as string,
    wireguardEndpoint: options.wireguardEndpoint as string | undefined,
    wireguardBackend: options.wireguardBackend as ServeConfig["wireguardBackend"],
    interfaceName: options.interface as string,
    apiListen: options.apiListen as string,
    apiTls: apiTlsFiles(options.apiTlsCert as string | undefined, options.apiTlsKey as string | undefined),
    logPort: options.logPort as number,
    eventPort: options.eventPort as number,
    joinToken: options.joinToken as string | false | undefined,
    joinTokenFile: options.joinTokenFile as string | undefined,
    inventory: options.inventory as string | undefined,
    excludedAddresses: (options.excludeAddresses as string[] | undefined) ?? [],
    accept: options.accept as ServeConfig["accept"],
    controlSocket: options.controlSocket as string,
    peerGcAfterMs: options.peerGcAfter as number | undefined,
    logRetainLines: options.logRetainLines as number,
    logRetainAgeMs: options.logRetainAge as number,
    logRateLimit: options.logRateLimit as number | undefined,
    metricsListen: options.metricsListen as string | undefined,
    cleanupOnExit: options.cleanupOnExit === true,
    kubernetes: options.kubernetes === true
      ? { kubeconfig: options.kubeconfig as string | undefined, secretNamespace: options.secretNamespace as string }
      : undefined,
  };
}

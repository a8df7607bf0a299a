/**
 * Drives a {@linkcode UserspaceDevice} from inside a network namespace, for tests whose own process cannot enter
 * one: `ip netns exec NS ./scripts/deno run -A tests/support/userspace_driver.ts` reads a {@linkcode DriverPlan}
 * as JSON on stdin, runs its steps in order, stops at the first failure and prints a {@linkcode DriverResult}
 * per step as JSON on stdout. Keys travel as base64, dates as ISO text. Each run is a fresh process, like a
 * restarted daemon: the device is closed at the end, never stopped.
 *
 * @module
 */

import type { DeviceConfig, DeviceInfo } from "../../src/wireguard/device.ts";
import { UserspaceDevice } from "../../src/wireguard/userspace.ts";

/** A {@linkcode DeviceConfig} with base64 keys. */
export interface WireConfig extends Omit<DeviceConfig, "privateKey" | "peers"> {
  privateKey?: string;
  peers?: (Omit<NonNullable<DeviceConfig["peers"]>[number], "publicKey"> & { publicKey: string })[];
}

/** One call on the device. */
export type DriverStep =
  | { op: "ensureLink" | "read" | "deleteLink" }
  | { op: "ensureAddress"; cidr: string }
  | { op: "configure"; config: WireConfig };

/** The device to open and what to do with it. */
export interface DriverPlan {
  name: string;
  steps: DriverStep[];
}

/** A {@linkcode DeviceInfo} with base64 keys and ISO dates. */
export interface WireInfo {
  name: string;
  publicKey?: string;
  listenPort: number;
  peers: {
    publicKey: string;
    endpoint?: string;
    lastHandshake?: string;
    receiveBytes: number;
    transmitBytes: number;
    persistentKeepaliveInterval: number;
    allowedIPs: string[];
  }[];
}

/** The outcome of one step: its duration, what `read` returned, or the error that stopped the plan. */
export interface DriverResult {
  op: DriverStep["op"];
  ms: number;
  info?: WireInfo;
  error?: string;
}

function fromWire(config: WireConfig): DeviceConfig {
  return {
    ...config,
    privateKey: config.privateKey === undefined ? undefined : Uint8Array.fromBase64(config.privateKey),
    peers: config.peers?.map((peer) => ({ ...peer, publicKey: Uint8Array.fromBase64(peer.publicKey) })),
  };
}

function toWire(info: DeviceInfo): WireInfo {
  return {
    ...info,
    publicKey: info.publicKey?.toBase64(),
    peers: info.peers.map((peer) => ({
      ...peer,
      publicKey: peer.publicKey.toBase64(),
      lastHandshake: peer.lastHandshake?.toISOString(),
    })),
  };
}

async function runStep(device: UserspaceDevice, step: DriverStep): Promise<WireInfo | undefined> {
  switch (step.op) {
    case "ensureLink":
      return void await device.ensureLink();
    case "ensureAddress":
      return void await device.ensureAddress(step.cidr);
    case "configure":
      return void await device.configure(fromWire(step.config));
    case "read":
      return toWire(await device.read());
    case "deleteLink":
      return void await device.deleteLink();
  }
}

if (import.meta.main) {
  const plan: DriverPlan = JSON.parse(await new Response(Deno.stdin.readable).text());
  const results: DriverResult[] = [];
  const device = UserspaceDevice.open(plan.name);
  try {
    for (const step of plan.steps) {
      const start = performance.now();
      try {
        const info = await runStep(device, step);
        results.push({ op: step.op, ms: performance.now() - start, info });
      } catch (error) {
        results.push({
          op: step.op,
          ms: performance.now() - start,
          error: error instanceof Error ? error.message : String(error),
        });
        break;
      }
    }
  } finally {
    await device.close();
  }
  console.log(JSON.stringify(results));
}

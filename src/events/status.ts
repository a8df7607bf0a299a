/**
 * What the server keeps per machine from its events (PROTOCOL.md §5): the Talos conditions, in the shape of
 * Cluster API conditions as Sidero writes them, and the machine's addresses without the tunnel's own.
 *
 * @module
 */

import { BlockList, isIP } from "node:net";
import { UsageError } from "../errors.ts";
import { canonicalAddress } from "../logs/source_address.ts";
import type { TalosEvent } from "./decode.ts";

/** The conditions events drive, in the order they are kept. */
export const CONDITION_TYPES = ["TalosConfigLoaded", "TalosConfigValidated", "TalosInstalled"] as const;

/** One of {@link CONDITION_TYPES}. */
export type ConditionType = typeof CONDITION_TYPES[number];

/** A Cluster API condition. Severity, reason and message are set only on False ones, as `MarkFalse` does. */
export interface Condition {
  type: ConditionType;
  status: "True" | "False";
  severity?: "Error" | "Warning" | "Info";
  reason?: string;
  message?: string;
  /** RFC 3339 in seconds, UTC; changes only when `status` flips. */
  lastTransitionTime: string;
}

/** A condition as an event sets it, before the transition time is decided. */
export type ConditionUpdate = Omit<Condition, "lastTransitionTime">;

const markTrue = (type: ConditionType): ConditionUpdate => ({ type, status: "True" });

/**
 * The condition updates an event implies (none for most events).
 *
 * @example
 * ```ts
 * conditionUpdates({ kind: "SequenceEvent", sequence: "boot", action: "START" }); // all three True
 * ```
 */
export function conditionUpdates(event: TalosEvent): ConditionUpdate[] {
  switch (event.kind) {
    case "ConfigLoadErrorEvent":
      return [falseCondition("TalosConfigLoaded", "TalosConfigLoadFailed", "Error", event.error)];
    case "ConfigValidationErrorEvent":
      return [falseCondition("TalosConfigValidated", "TalosConfigValidationFailed", "Error", event.error)];
    case "PhaseEvent":
      if (event.action !== "START") return [];
      if (event.phase === "install") {
        return [falseCondition("TalosInstalled", "TalosInstallationInProgress", "Info", "")];
      }
      // Older Talos reports a good configuration only by reaching this phase.
      if (event.phase === "saveConfig") return [markTrue("TalosConfigValidated"), markTrue("TalosConfigLoaded")];
      return [];
    case "SequenceEvent":
      if (event.sequence === "boot" && event.action === "START") return CONDITION_TYPES.map(markTrue);
      if (event.sequence === "install" && event.action === "NOOP" && event.error?.code === "FATAL") {
        // A successful install ends in a reboot, which Talos reports as a fatal error of the install sequence.
        if (event.error.message.includes("unix.Reboot")) return [markTrue("TalosInstalled")];
        return [falseCondition("TalosInstalled", "TalosInstallationFailed", "Error", event.error.message)];
      }
      return [];
    default:
      return [];
  }
}

function falseCondition(
  type: ConditionType,
  reason: string,
  severity: "Error" | "Info",
  message: string,
): ConditionUpdate {
  return message === ""
    ? { type, status: "False", severity, reason }
    : { type, status: "False", severity, reason, message };
}

/**
 * Applies updates to a machine's conditions: a condition's `lastTransitionTime` becomes `now` only when it is new
 * or its status flips; reason, severity and message follow the latest update. The result is ordered by type.
 */
export function applyConditions(
  current: readonly Condition[],
  updates: readonly ConditionUpdate[],
  now: Date,
): Condition[] {
  const byType = new Map<ConditionType, Condition>(current.map((condition) => [condition.type, condition]));
  const time = now.toISOString().replace(/\.\d+Z$/, "Z");
  for (const update of updates) {
    const previous = byType.get(update.type);
    const lastTransitionTime = previous && previous.status === update.status ? previous.lastTransitionTime : time;
    byType.set(update.type, { ...update, lastTransitionTime });
  }
  return CONDITION_TYPES.flatMap((type) => byType.get(type) ?? []);
}

/**
 * Networks whose addresses are left out of a machine's reported addresses (for example the management network
 * the machines share), parsed once from CIDR text.
 */
export class ExcludedNetworks {
  readonly cidrs: readonly string[];
  private readonly blocks = new BlockList();

  /**
   * @throws {UsageError} naming the first entry that is not `address/length`.
   * @example
   * ```ts
   * new ExcludedNetworks(["10.5.0.0/24", "fd00::/8"]).contains("10.5.0.2"); // true
   * ```
   */
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [address, length, extra] = cidr.split("/");
      const family = isIP(address ?? "");
      const bits = Number(length);
      if (extra !== undefined || family === 0 || !/^\d+$/.test(length ?? "") || bits > (family === 4 ? 32 : 128)) {
        throw new UsageError(`invalid excluded network "${cidr}": expected address/length, e.g. 10.5.0.0/24`);
      }
      this.blocks.addSubnet(address, bits, family === 4 ? "ipv4" : "ipv6");
    }
    this.cidrs = [...cidrs];
  }

  /** Whether `address` (bare IP text; IPv4-mapped IPv6 counts as IPv4) lies in one of the networks. */
  contains(address: string): boolean {
    const family = isIP(address);
    return family !== 0 && this.blocks.check(address, family === 4 ? "ipv4" : "ipv6");
  }
}

/**
 * A machine's addresses as reported in an AddressEvent, minus its own SideroLink address and minus excluded
 * networks. Entries may carry a prefix length (`10.5.0.2/24`); they are kept as sent. Text that is no address is
 * kept too: the sink reports what the machine said and only removes what it knows to be redundant.
 */
export function filterAddresses(
  addresses: readonly string[],
  ownAddress: string,
  excluded: ExcludedNetworks,
): string[] {
  const own = canonicalAddress(ownAddress);
  return addresses.filter((entry) => {
    const address = canonicalAddress(entry.split("/")[0]);
    return address === undefined || (address !== own && !excluded.contains(address));
  });
}

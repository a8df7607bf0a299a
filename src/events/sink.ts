/**
 * The event sink's handling of one `Publish` call (PROTOCOL.md §5), independent of the gRPC transport:
 * decode, identify the machine by the peer's SideroLink address, print the event line, keep the history and
 * the machine's status, idempotently per event id.
 *
 * Talos resends from its last acknowledged event, forever, after any non-OK reply, so the sink answers OK to
 * everything that is a well-formed request, and handles failures by logging them:
 * - no EventRequest at all (truncated, wrong wire types), no `data`, or no `id` → INVALID_ARGUMENT with a message
 *   (nothing a resend could fix is likely to come from a real Talos, and the sender learns what was wrong);
 * - a payload of a known type that does not decode, or a store failure → OK, an event line with level `error` and
 *   `handling_error`, and an error on the diagnostic log (a resend would fail the same way, forever);
 * - a payload type the sink does not know → OK, an event line without per-type keys, and an info diagnostic;
 * - a source that is no known machine → OK, an event line with `"unknown_source":true` in place of the machine's
 *   names, a warning diagnostic, no stored status (there is no machine to keep it for).
 *
 * @module
 */

import { formatHostPort } from "../hostport.ts";
import { status } from "@grpc/grpc-js";
import { DirectoryUnavailable, type MachineDirectory } from "../machines/directory.ts";
import type { Peer } from "../grpc/server.ts";
import { logger } from "../log.ts";
import { canonicalAddress } from "../logs/source_address.ts";
import type { EventResult } from "../metrics/counters.ts";
import type { Tally } from "../metrics/tally.ts";
import {
  decodeEventRequest,
  decodePayload,
  type EventEnvelope,
  InvalidEventRequest,
  type PayloadType,
  payloadType,
  type TalosEvent,
} from "./decode.ts";
import { eventLine } from "./line.ts";
import { applyConditions, conditionUpdates, ExcludedNetworks, filterAddresses } from "./status.ts";
import type { StatusUpdate } from "./store.ts";

/** The gRPC status to answer a call with. */
export interface PublishResult {
  /** A gRPC status code: OK (0), INVALID_ARGUMENT (3) or UNAVAILABLE (14). */
  code: number;
  /** Why the request was refused (set with every code but OK). */
  message?: string;
}

/** What an {@link EventSink} needs. */
export interface EventSinkOptions {
  /** Who owns each SideroLink address, and where history and status are kept. */
  directory: Pick<MachineDirectory, "identify" | "recordEvent">;
  /** Networks left out of a machine's addresses; none by default. */
  excluded?: ExcludedNetworks;
  /** Prints one event line (no trailing newline); serve writes it to stdout. */
  write: (line: string) => void;
  /** The clock (tests pin it). */
  now?: () => Date;
  /** Counts every call by payload type and {@link EventResult}. */
  counters?: Tally<"type" | "result">;
}

/** How many (source, id) pairs of unknown sources are remembered to avoid printing a resent event twice. */
const UNKNOWN_SOURCE_IDS = 4096;

const log = logger(["events"]);

/**
 * The event sink.
 *
 * @example
 * ```ts
 * const sink = new EventSink({ directory, write: (line) => console.log(line) });
 * const { code, message } = await sink.publish(requestBytes, { address: "fdae:41e4:649b:9303::2", port: 50412 });
 * ```
 */
export class EventSink {
  readonly #options: EventSinkOptions;
  readonly #excluded: ExcludedNetworks;
  readonly #now: () => Date;
  /** Recently seen `address id` keys of unknown sources, oldest first (a Map keeps insertion order). */
  readonly #unknownSeen = new Map<string, true>();

  constructor(options: EventSinkOptions) {
    this.#options = options;
    this.#excluded = options.excluded ?? new ExcludedNetworks([]);
    this.#now = options.now ?? (() => new Date());
  }

  /**
   * Handles one encoded `events.EventRequest` from `peer` (inside the tunnel, the machine's SideroLink address).
   * Never rejects.
   */
  async publish(request: Uint8Array, peer: Peer): Promise<PublishResult> {
    const address = canonicalAddress(peer.address) ?? peer.address;
    const node = formatHostPort(address, peer.port);
    let envelope: EventEnvelope;
    try {
      envelope = decodeEventRequest(request);
    } catch (error) {
      if (!(error instanceof InvalidEventRequest)) throw error;
      log.warn("refused event from {node}: {reason}", { node, reason: error.message });
      this.#options.counters?.add({ type: "none", result: "refused" });
      return { code: status.INVALID_ARGUMENT, message: error.message };
    }
    const type = payloadType(envelope.typeUrl);
    const count = (result: EventResult) => this.#options.counters?.add({ type: type ?? "unknown", result });
    try {
      count(await this.#handle(envelope, type, address, node));
    } catch (error) {
      if (error instanceof DirectoryUnavailable) {
        // Nothing was kept: Talos resends this event later, and it is handled (and printed) then.
        log.warn("event {id} from {node} not handled yet: {error}", { id: envelope.id, node, error: error.message });
        count("unavailable");
        return { code: status.UNAVAILABLE, message: `machine status cannot be written now: ${error.message}` };
      }
      // Reached only when printing or logging itself fails; the event was handled as far as it could be.
      log.error("event {id} from {node}: {error}", { id: envelope.id, node, error: (error as Error).message });
      count("handling_error");
    }
    return { code: status.OK };
  }

  async #handle(
    envelope: EventEnvelope,
    type: PayloadType | undefined,
    address: string,
    node: string,
  ): Promise<EventResult> {
    const { id, typeUrl } = envelope;
    const identity = this.#options.directory.identify(address);
    const time = this.#now();
    let event: TalosEvent | undefined;
    let decodeError: string | undefined;
    if (type !== undefined) {
      try {
        event = decodePayload(type, envelope.value);
      } catch (error) {
        decodeError = (error as Error).message;
      }
    }
    const lineOf = (handlingError?: string) => eventLine({ time, node, id, typeUrl, identity, event, handlingError });
    let handlingError = decodeError;
    let line = lineOf(handlingError);
    let fresh: boolean;
    if (!identity) {
      fresh = !this.#seenFromUnknown(`${address} ${id}`);
    } else {
      try {
        fresh = await this.#options.directory.recordEvent(
          identity.serverUuid,
          { id, receivedAt: time, typeUrl, line },
          event && statusUpdate(event, address, this.#excluded, time),
        );
      } catch (error) {
        if (error instanceof DirectoryUnavailable) throw error;
        // Acknowledged all the same: a resend would most likely fail the same way, and Talos resends forever.
        const storeError = `cannot store event: ${(error as Error).message}`;
        handlingError = decodeError === undefined ? storeError : `${decodeError}; ${storeError}`;
        line = lineOf(handlingError);
        fresh = true;
      }
    }
    // Diagnostics only for the first delivery: Talos replays up to 990 events whenever it reconnects.
    if (!fresh) {
      log.debug("event {id} from {node} was already handled", { id, node });
      return "duplicate";
    }
    if (!identity) log.warn("event {id} from {node}, which is no known machine", { id, node });
    if (type === undefined) {
      log.info("event {id} from {node} has a type the sink does not know: {typeUrl}", { id, node, typeUrl });
    }
    if (handlingError !== undefined) log.error("event {id} from {node}: {handlingError}", { id, node, handlingError });
    this.#options.write(line);
    return handlingError !== undefined ? "handling_error" : identity ? "handled" : "unknown_source";
  }

  /** Whether an unknown source already sent this id; remembers it otherwise, forgetting the oldest beyond the cap. */
  #seenFromUnknown(key: string): boolean {
    if (this.#unknownSeen.has(key)) return true;
    this.#unknownSeen.set(key, true);
    if (this.#unknownSeen.size > UNKNOWN_SOURCE_IDS) this.#unknownSeen.delete(this.#unknownSeen.keys().next().value!);
    return false;
  }
}

/** How an event changes the machine's status, or `undefined` when it does not (so the store skips reading it). */
function statusUpdate(
  event: TalosEvent,
  ownAddress: string,
  excluded: ExcludedNetworks,
  time: Date,
): StatusUpdate | undefined {
  switch (event.kind) {
    case "AddressEvent": {
      const change = { hostname: event.hostname, addresses: filterAddresses(event.addresses, ownAddress, excluded) };
      return () => change;
    }
    case "MachineStatusEvent":
      return () => ({ stage: event.stage, ready: event.ready });
    default: {
      const updates = conditionUpdates(event);
      if (updates.length === 0) return undefined;
      return (current) => ({ conditions: applyConditions(current.conditions, updates, time) });
    }
  }
}

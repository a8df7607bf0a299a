/**
 * `GET /v1/events`: the event lines serve prints, streamed live to each reader (no history), so that a follower
 * container (`siderolink logs --events`, named `serverevents` in the pod) shows event lines only, exactly as Sidero's
 * `serverevents` container did. A reader that falls too far behind is dropped rather than buffered without end.
 *
 * @module
 */

import type { ControlRoute } from "./server.ts";

/** How far a reader may fall behind (bytes queued for it) before its stream is ended. */
const MAX_BEHIND_BYTES = 4 << 20;

/**
 * The live feed of event lines: serve publishes each printed line, readers subscribe.
 *
 * @example
 * ```ts
 * const feed = new EventLineFeed();
 * routes["/v1/events"] = eventsRoute(feed);
 * feed.publish('{"level":"info",…}');
 * ```
 */
export class EventLineFeed {
  readonly #readers = new Set<(line: string) => void>();

  /** Hands `line` to every reader. */
  publish(line: string): void {
    for (const reader of this.#readers) reader(line);
  }

  /** Calls `reader` with every later line until the returned function is called. */
  subscribe(reader: (line: string) => void): () => void {
    this.#readers.add(reader);
    return () => this.#readers.delete(reader);
  }
}

/** The route over `feed`. */
export function eventsRoute(feed: EventLineFeed, maxBehind = MAX_BEHIND_BYTES): ControlRoute {
  return () => {
    const encoder = new TextEncoder();
    let unsubscribe: (() => void) | undefined;
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        unsubscribe = feed.subscribe((line) => {
          if (-(controller.desiredSize ?? 0) > maxBehind) {
            unsubscribe?.();
            controller.error(new Error(`the reader fell more than ${maxBehind} bytes behind`));
            return;
          }
          controller.enqueue(encoder.encode(`${line}\n`));
        });
      },
      cancel: () => unsubscribe?.(),
    }, new ByteLengthQueuingStrategy({ highWaterMark: 0 }));
    return new Response(body, { headers: { "content-type": "application/x-ndjson" } });
  };
}

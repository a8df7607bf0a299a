/**
 * The event sink's protobuf types, loaded with protobufjs from the `.proto` files in `src/proto/` (the same files
 * the tests compile with an independent protoc), so the wire format has one source of truth.
 *
 * @module
 */

import protobuf from "protobufjs";
import { fileURLToPath } from "node:url";

/** The folder holding the project's `.proto` files. */
export const PROTO_DIR: string = fileURLToPath(new URL("../proto/", import.meta.url));

/** The prefix of every Talos payload type URL. */
export const TYPE_URL_PREFIX = "type.googleapis.com/";

/**
 * Parses `files` (names inside `dir`) and every file they import into one resolved root. Imports of
 * `google/protobuf/*.proto` come from the well-known types bundled with protobufjs; all others from `dir`.
 * Field names keep their `.proto` spelling (`actor_id`, `unmet_conditions`).
 *
 * @example
 * ```ts
 * const root = loadProtoFiles(PROTO_DIR, ["events.proto"]);
 * root.lookupType("events.EventRequest");
 * ```
 */
export function loadProtoFiles(dir: string, files: readonly string[]): protobuf.Root {
  const root = new protobuf.Root();
  const seen = new Set<string>();
  const load = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    const wellKnown = protobuf.common.get(name);
    if (name.startsWith("google/protobuf/") && wellKnown) {
      root.addJSON(wellKnown.nested ?? {});
      return;
    }
    const text = Deno.readTextFileSync(`${dir}/${name}`);
    const parsed = protobuf.parse(text, root, { keepCase: true });
    for (const imported of [...(parsed.imports ?? []), ...(parsed.weakImports ?? [])]) load(imported);
  };
  for (const file of files) load(file);
  root.resolveAll();
  return root;
}

/** The root holding `events`, `machine` and `common` types, loaded once on first use. */
let eventRoot: protobuf.Root | undefined;

/** The event sink's protobuf root (`events.*`, `machine.*`, `common.*`, `google.protobuf.*`). */
export function eventProtos(): protobuf.Root {
  eventRoot ??= loadProtoFiles(PROTO_DIR, ["events.proto", "machine.proto"]);
  return eventRoot;
}

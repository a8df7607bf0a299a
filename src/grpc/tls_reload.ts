/**
 * A TLS pair that follows its files: when they change on disk, the next connection gets the new pair, and the
 * listener stays open.
 *
 * Why the folders are watched, not the files: cert-manager's Secrets reach a pod as a mounted folder in which
 * `tls.crt` and `tls.key` are symlinks through `..data`, and an update swaps the `..data` symlink, so the
 * files themselves never see an event. Any change in a folder holding one of the files therefore re-reads both.
 * A rotation may also land one file before the other: a pair that does not check out is not taken, the one in
 * use stays, and the failure is logged once until the files change into a good pair.
 *
 * @module
 */

import { dirname } from "node:path";
import { logger } from "../log.ts";
import { describeCertificate, readTlsPair, type TlsFiles, type TlsPair } from "./tls_pair.ts";

const log = logger(["grpc", "tls"]);

/** How long a burst of file events must be quiet before the files are read (a save is several events). */
const SETTLE_MS = 100;

/** A {@link TlsPair} that is replaced when its files change; disposing it stops watching. */
export class ReloadingTlsPair implements Disposable {
  readonly #files: TlsFiles;
  #current: TlsPair;
  readonly #watcher: Deno.FsWatcher;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** The last reload failure logged, so that a pair stuck half-rotated is reported once, not at every event. */
  #lastError: string | undefined;
  /** Resolves after each reload attempt; for tests that wait for one. */
  #reloaded = Promise.withResolvers<void>();

  private constructor(files: TlsFiles, pair: TlsPair) {
    this.#files = files;
    this.#current = pair;
    const folders = [...new Set([dirname(files.certFile), dirname(files.keyFile)])];
    this.#watcher = Deno.watchFs(folders, { recursive: false });
    this.#watch().catch((error) => log.error("watching the TLS files stopped: {error}", { error: error.message }));
  }

  /**
   * Reads and checks the pair (throwing a `UserError` naming the file when it is unusable), then watches it.
   *
   * @example
   * ```ts
   * using tls = await ReloadingTlsPair.open({ certFile: "/tls/tls.crt", keyFile: "/tls/tls.key" });
   * new tls.TLSSocket(socket, { isServer: true, secureContext: tls.current.secureContext });
   * ```
   */
  static async open(files: TlsFiles): Promise<ReloadingTlsPair> {
    return new ReloadingTlsPair(files, await readTlsPair(files));
  }

  /** The pair new connections get. */
  get current(): TlsPair {
    return this.#current;
  }

  /** Resolves after the next reload attempt, taken or not. */
  nextReload(): Promise<void> {
    return this.#reloaded.promise;
  }

  [Symbol.dispose](): void {
    clearTimeout(this.#timer);
    this.#watcher.close();
  }

  async #watch(): Promise<void> {
    for await (const _event of this.#watcher) {
      clearTimeout(this.#timer);
      this.#timer = setTimeout(() => this.#reload(), SETTLE_MS);
    }
  }

  async #reload(): Promise<void> {
    try {
      const next = await readTlsPair(this.#files);
      this.#lastError = undefined;
      if (next.cert === this.#current.cert && next.key === this.#current.key) return;
      this.#current = next;
      log.info("TLS certificate {certFile} reloaded: {certificate}", {
        certFile: this.#files.certFile,
        certificate: describeCertificate(next),
      });
    } catch (error) {
      const message = (error as Error).message;
      if (message === this.#lastError) return;
      this.#lastError = message;
      log.error("TLS pair not reloaded, still serving {certificate}: {error}", {
        certificate: describeCertificate(this.#current),
        error: message,
      });
    } finally {
      const done = this.#reloaded;
      this.#reloaded = Promise.withResolvers<void>();
      done.resolve();
    }
  }
}

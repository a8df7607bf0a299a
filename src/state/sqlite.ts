/**
 * The embedded state store: one SQLite database (`state.db`, mode 0600) in a 0700 folder, through the
 * runtime's built-in `node:sqlite`.
 *
 * A database that cannot be read is reported and left as it is: re-creating it would give the server a
 * new installation ID and key, and so orphan every machine provisioned so far.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import { join } from "node:path";
import { UserError } from "../errors.ts";
import { generatePrivateKey } from "../keys.ts";
import type { Installation } from "./types.ts";
import { MIGRATIONS } from "./schema.ts";

/** The database's file name inside the state folder. */
export const STATE_FILE = "state.db";

/** How long a writer waits for another process's lock before failing (two daemons starting at once). */
const BUSY_TIMEOUT_MS = 10_000;

/** Whether to create the state when it is missing (`serve`) or only read an existing one (`addr`, `peers`). */
export type OpenMode = "create" | "read";

/**
 * An open state database.
 *
 * @example
 * ```ts
 * using state = SqliteState.open("/var/lib/siderolink", "create");
 * const { installationId } = state.installation();
 * ```
 */
export class SqliteState implements Disposable {
  readonly path: string;
  readonly db: DatabaseSync;
  readonly mode: OpenMode;
  /** Prepared statements by their SQL text (see {@linkcode SqliteState.statement}). */
  readonly #statements = new Map<string, StatementSync>();

  private constructor(path: string, db: DatabaseSync, mode: OpenMode) {
    this.path = path;
    this.db = db;
    this.mode = mode;
  }

  /** Whether `dir` holds a state database. */
  static existsIn(dir: string): boolean {
    try {
      return Deno.statSync(join(dir, STATE_FILE)).isFile;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw new UserError(`cannot inspect state folder ${dir}: ${(error as Error).message}`);
    }
  }

  /** Opens (and with `"create"`, first creates) the state in `dir`, then brings its schema up to date. */
  static open(dir: string, mode: OpenMode): SqliteState {
    const path = join(dir, STATE_FILE);
    if (mode === "create") prepareFiles(dir, path);
    else if (!SqliteState.existsIn(dir)) {
      throw new UserError(`no state in ${dir} (serve creates ${path} on first start)`);
    }
    let db: DatabaseSync | undefined;
    try {
      db = new DatabaseSync(path, { readOnly: mode === "read", timeout: BUSY_TIMEOUT_MS });
      const state = new SqliteState(path, db, mode);
      state.migrate();
      return state;
    } catch (error) {
      db?.close();
      throw unreadable(path, error);
    }
  }

  /**
   * The installation, created on first call in `"create"` mode. Two processes racing here end with one
   * installation: the check and the insert run in one write transaction.
   */
  installation(): Installation {
    const row = this.query(() =>
      this.inTransaction(() => {
        const existing = this.readInstallation();
        if (existing || this.mode === "read") return existing;
        this.db.prepare("INSERT INTO installation (id, installation_id, private_key, created_at) VALUES (1, ?, ?, ?)")
          .run(crypto.getRandomValues(new Uint8Array(32)).toBase64(), generatePrivateKey().toBase64(), isoNow());
        return this.readInstallation();
      })
    );
    if (!row) throw new UserError(`state ${this.path} holds no installation yet (serve creates it on first start)`);
    return {
      installationId: row.installation_id,
      privateKey: Uint8Array.fromBase64(row.private_key),
      joinToken: row.join_token ?? undefined,
    };
  }

  /** Stores the join token machines must present (undefined: none, the check is off). */
  setJoinToken(joinToken: string | undefined): void {
    this.query(() => this.statement("UPDATE installation SET join_token = ? WHERE id = 1").run(joinToken ?? null));
  }

  /** Closes the database. */
  close(): void {
    if (this.db.isOpen) this.db.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }

  /** Runs `work` in an immediate (write-locking) transaction, or directly on a read-only database. */
  inTransaction<T>(work: () => T): T {
    if (this.mode === "read") return work();
    this.db.exec("BEGIN IMMEDIATE");
    try {
      const result = work();
      this.db.exec("COMMIT");
      return result;
    } catch (error) {
      if (this.db.isTransaction) this.db.exec("ROLLBACK");
      throw error;
    }
  }

  /**
   * The prepared statement of `sql`, prepared on first use and kept for the database's life. The runtime's
   * `node:sqlite` frees a statement only when the database closes (garbage collection does not), so preparing per
   * call grows the process by kilobytes every call: 10,000 provisions held about 240 MiB. Callers pass fixed SQL
   * texts (or a bounded set of them), so this map stays small.
   */
  statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  /** Runs a statement, turning SQLite failures into an error that names the file. */
  query<T>(work: () => T): T {
    try {
      return work();
    } catch (error) {
      if (error instanceof UserError) throw error;
      throw new UserError(`state ${this.path}: ${(error as Error).message}`);
    }
  }

  private readInstallation() {
    return this.db.prepare("SELECT installation_id, private_key, join_token FROM installation WHERE id = 1").get() as
      | { installation_id: string; private_key: string; join_token: string | null }
      | undefined;
  }

  /**
   * Brings the schema up to date (in `"create"` mode) or checks that this version understands it (`"read"`).
   * Reading `user_version` also proves the file is a database at all.
   */
  private migrate(): void {
    if (this.mode === "create") {
      this.db.exec("PRAGMA journal_mode = WAL");
      this.db.exec("PRAGMA synchronous = NORMAL");
    }
    this.inTransaction(() => {
      const version = (this.db.prepare("PRAGMA user_version").get() as { user_version: number }).user_version;
      if (version > MIGRATIONS.length) {
        throw new Error(`schema version ${version} is newer than this siderolink understands (${MIGRATIONS.length})`);
      }
      if (this.mode === "read") return;
      for (let next = version; next < MIGRATIONS.length; next++) this.db.exec(MIGRATIONS[next]);
      this.db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    });
  }
}

/** Creates the folder (0700) and an empty database file (0600) so that SQLite never creates it wider. */
function prepareFiles(dir: string, path: string): void {
  try {
    Deno.mkdirSync(dir, { recursive: true, mode: 0o700 });
    Deno.chmodSync(dir, 0o700);
    Deno.openSync(path, { create: true, write: true, mode: 0o600 }).close();
    Deno.chmodSync(path, 0o600);
  } catch (error) {
    throw new UserError(`cannot prepare state folder ${dir}: ${(error as Error).message}`);
  }
}

function unreadable(path: string, error: unknown): UserError {
  if (error instanceof UserError) return error;
  return new UserError(
    `state database ${path} cannot be used: ${(error as Error).message}. It was left untouched: restore it ` +
      `from a backup, or move it away to start a new installation (every provisioned machine must then provision again)`,
  );
}

function isoNow(): string {
  return new Date().toISOString();
}

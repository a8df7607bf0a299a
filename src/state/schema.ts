/**
 * The state database's schema as an ordered list of migrations; `PRAGMA user_version` counts those applied.
 * Append new steps, never edit old ones: a deployed database has already run them.
 *
 * @module
 */

/** Migration N brings the schema from version N to N + 1. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE installation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    installation_id TEXT NOT NULL,
    private_key TEXT NOT NULL,
    join_token TEXT,
    created_at TEXT NOT NULL
  );
  CREATE TABLE machines (
    uuid TEXT PRIMARY KEY,
    address TEXT NOT NULL UNIQUE,
    public_key TEXT,
    node_unique_token TEXT,
    talos_version TEXT,
    first_provisioned_at TEXT,
    last_provisioned_at TEXT
  );
  `,
  // Machine annotations and status (serve), kernel-log history (logs) and event history (events).
  // A log_lines row holds a run of consecutive lines of one machine and boot, joined by "\n" (src/logs/log_table.ts):
  // its seq, time_ms and level are the run's highest, newest and most severe.
  `
  ALTER TABLE machines ADD COLUMN namespace TEXT;
  ALTER TABLE machines ADD COLUMN cluster TEXT;
  ALTER TABLE machines ADD COLUMN metal_machine TEXT;
  ALTER TABLE machines ADD COLUMN machine TEXT;
  ALTER TABLE machines ADD COLUMN hostname TEXT;
  ALTER TABLE machines ADD COLUMN addresses TEXT;
  ALTER TABLE machines ADD COLUMN stage TEXT;
  ALTER TABLE machines ADD COLUMN ready INTEGER;
  ALTER TABLE machines ADD COLUMN conditions TEXT;
  ALTER TABLE machines ADD COLUMN status_updated_at TEXT;
  CREATE TABLE log_lines (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    level TEXT NOT NULL,
    line TEXT NOT NULL
  );
  CREATE INDEX log_lines_by_machine ON log_lines (uuid, id);
  CREATE INDEX log_lines_by_time ON log_lines (time_ms);
  CREATE TABLE events (
    uuid TEXT NOT NULL,
    id TEXT NOT NULL,
    received_at TEXT NOT NULL,
    type TEXT NOT NULL,
    line TEXT NOT NULL,
    PRIMARY KEY (uuid, id)
  );
  `,
  // Provisioning looks machines up by key, to refuse a key another machine already holds.
  `CREATE INDEX machines_by_public_key ON machines (public_key);`,
];

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
];

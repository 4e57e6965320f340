#!/usr/bin/env node
// Applies prisma/migrations/*/migration.sql to DATABASE_URL and records each one in
// `_prisma_migrations` the way `prisma migrate deploy` does, so that a later real
// `prisma migrate deploy` sees them as applied. Needs only the `mariadb` driver (a production
// dependency): the Prisma schema engine cannot be downloaded everywhere this must run.
//
// Usage: DATABASE_URL=mysql://user:pass@host:3306/db node scripts/apply-migrations.mjs [migrationsDir]
import { createHash, randomUUID } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import mariadb from "mariadb";

export const DEFAULT_MIGRATIONS_DIR = resolve(
  dirname(fileURLToPath(import.meta.url)),
  "..",
  "prisma",
  "migrations",
);

// The table exactly as Prisma's schema engine creates it on MySQL.
const CREATE_MIGRATIONS_TABLE = `CREATE TABLE _prisma_migrations (
    id                      VARCHAR(36) PRIMARY KEY NOT NULL,
    checksum                VARCHAR(64) NOT NULL,
    finished_at             DATETIME(3),
    migration_name          VARCHAR(255) NOT NULL,
    logs                    TEXT,
    rolled_back_at          DATETIME(3),
    started_at              DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    applied_steps_count     INTEGER UNSIGNED NOT NULL DEFAULT 0
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`;

// Same advisory lock name as Prisma's, so this script and `prisma migrate deploy` never run
// migrations on one database at the same time.
const LOCK_NAME = "prisma_migrate";
const LOCK_TIMEOUT_SECONDS = 10;

export class MigrationError extends Error {
  constructor(message) {
    super(message);
    this.name = "MigrationError";
  }
}

/** Connection options for the mariadb driver from a mysql:// or mariadb:// URL. */
export function connectionOptionsFromUrl(databaseUrl) {
  let url;
  try {
    url = new URL(databaseUrl);
  } catch {
    throw new MigrationError(
      "DATABASE_URL is not a valid URL. Expected mysql://USER:PASSWORD@HOST:PORT/DATABASE.",
    );
  }
  if (url.protocol !== "mysql:" && url.protocol !== "mariadb:") {
    throw new MigrationError(
      `DATABASE_URL must start with mysql:// or mariadb:// (got ${url.protocol}//).`,
    );
  }
  const database = decodeURIComponent(url.pathname.replace(/^\//, ""));
  if (!database) {
    throw new MigrationError(
      "DATABASE_URL names no database. Expected mysql://USER:PASSWORD@HOST:PORT/DATABASE.",
    );
  }
  return {
    host: url.hostname,
    port: url.port ? Number(url.port) : 3306,
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database,
    // MySQL 8's caching_sha2_password needs the server's RSA key on connections without TLS.
    allowPublicKeyRetrieval: true,
    multipleStatements: true,
    connectTimeout: 10_000,
  };
}

/** sha256 hex of the file's bytes: the checksum Prisma stores. */
export function migrationChecksum(contents) {
  return createHash("sha256").update(contents).digest("hex");
}

/** Migration folders in name order (= timestamp order), each with its script and checksum. */
export function readMigrations(migrationsDir = DEFAULT_MIGRATIONS_DIR) {
  if (!existsSync(migrationsDir)) {
    throw new MigrationError(`Migrations directory not found: ${migrationsDir}`);
  }
  return readdirSync(migrationsDir, { withFileTypes: true })
    .filter((entry) => entry.isDirectory())
    .map((entry) => entry.name)
    .sort()
    .filter((name) => existsSync(join(migrationsDir, name, "migration.sql")))
    .map((name) => {
      const contents = readFileSync(join(migrationsDir, name, "migration.sql"));
      return { name, script: contents.toString("utf8"), checksum: migrationChecksum(contents) };
    });
}

async function ensureMigrationsTable(connection) {
  const rows = await connection.query(
    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = '_prisma_migrations'",
  );
  if (Number(rows[0].n) === 0) await connection.query(CREATE_MIGRATIONS_TABLE);
}

/**
 * Applies every pending migration. Returns { applied: [names], skipped: [names] }.
 * Refuses (MigrationError) when an applied migration's file changed or a failed one is recorded.
 */
export async function applyMigrations({
  databaseUrl,
  migrationsDir = DEFAULT_MIGRATIONS_DIR,
  log = (line) => console.log(line),
}) {
  if (!databaseUrl) {
    throw new MigrationError(
      "DATABASE_URL is not set. Set it to mysql://USER:PASSWORD@HOST:PORT/DATABASE.",
    );
  }
  const migrations = readMigrations(migrationsDir);
  const connection = await mariadb.createConnection(connectionOptionsFromUrl(databaseUrl));
  try {
    const [lock] = await connection.query("SELECT GET_LOCK(?, ?) AS locked", [
      LOCK_NAME,
      LOCK_TIMEOUT_SECONDS,
    ]);
    if (Number(lock.locked) !== 1) {
      throw new MigrationError(
        `Another migration run holds the '${LOCK_NAME}' lock; try again when it has finished.`,
      );
    }
    await ensureMigrationsTable(connection);
    const records = await connection.query(
      "SELECT migration_name, checksum, finished_at, rolled_back_at FROM _prisma_migrations ORDER BY started_at",
    );

    const failed = records.filter((r) => r.finished_at === null && r.rolled_back_at === null);
    if (failed.length > 0) {
      throw new MigrationError(
        `Migration ${failed.map((r) => r.migration_name).join(", ")} failed earlier and is recorded as unfinished. ` +
          "Fix the database by hand, then mark it with `prisma migrate resolve --rolled-back NAME` (or --applied NAME) and run again.",
      );
    }

    const applied = new Map(
      records
        .filter((r) => r.finished_at !== null && r.rolled_back_at === null)
        .map((r) => [r.migration_name, r]),
    );
    const result = { applied: [], skipped: [] };
    for (const migration of migrations) {
      const record = applied.get(migration.name);
      if (record) {
        if (record.checksum !== migration.checksum) {
          throw new MigrationError(
            `Migration ${migration.name} was changed after it was applied (recorded checksum ${record.checksum}, ` +
              `file now ${migration.checksum}). Applied migrations must not be edited: restore the file and add a new migration instead.`,
          );
        }
        result.skipped.push(migration.name);
        continue;
      }
      const id = randomUUID();
      await connection.query(
        "INSERT INTO _prisma_migrations (id, checksum, started_at, migration_name, applied_steps_count) VALUES (?, ?, CURRENT_TIMESTAMP(3), ?, 0)",
        [id, migration.checksum, migration.name],
      );
      try {
        await connection.query(migration.script);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        await connection.query("UPDATE _prisma_migrations SET logs = ? WHERE id = ?", [
          message,
          id,
        ]);
        throw new MigrationError(`Migration ${migration.name} failed: ${message}`);
      }
      await connection.query(
        "UPDATE _prisma_migrations SET finished_at = CURRENT_TIMESTAMP(3), applied_steps_count = 1 WHERE id = ?",
        [id],
      );
      log(`applied ${migration.name}`);
      result.applied.push(migration.name);
    }
    const known = new Set(migrations.map((m) => m.name));
    for (const name of applied.keys()) {
      if (!known.has(name))
        log(`warning: ${name} is recorded as applied but has no folder in ${migrationsDir}`);
    }
    log(
      `${result.applied.length} migration(s) applied, ${result.skipped.length} already applied` +
        (migrations.length === 0 ? " (no migrations found)" : ""),
    );
    return result;
  } finally {
    await connection.query("SELECT RELEASE_LOCK(?)", [LOCK_NAME]).catch(() => undefined);
    await connection.end().catch(() => undefined);
  }
}

const invokedDirectly =
  process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href;
if (invokedDirectly) {
  const migrationsDir = process.argv[2] ? resolve(process.argv[2]) : DEFAULT_MIGRATIONS_DIR;
  applyMigrations({ databaseUrl: process.env.DATABASE_URL, migrationsDir }).then(
    () => process.exit(0),
    (error) => {
      // Only the message: driver errors can carry the SQL text but never the password.
      console.error(`apply-migrations: ${error instanceof Error ? error.message : String(error)}`);
      process.exit(1);
    },
  );
}

// A database of the test file's own on the server from the global setup, built by the migration
// applier from prisma/migrations (the same path a deploy takes), and dropped afterwards.
import { randomBytes } from "node:crypto";
import mariadb from "mariadb";
import { inject } from "vitest";
import { applyMigrations, connectionOptionsFromUrl } from "../../scripts/apply-migrations.mjs";
import { createPrismaClient, type PrismaClient } from "../../src/db.js";

export interface TestDatabase {
  url: string;
  name: string;
  prisma: PrismaClient;
  /** Runs SQL on the test database with a plain driver connection (for checks behind Prisma's back). */
  query<T = unknown>(sql: string, values?: unknown[]): Promise<T>;
  drop(): Promise<void>;
}

function withDatabase(url: string, database: string): string {
  const next = new URL(url);
  next.pathname = `/${database}`;
  return next.toString();
}

/** Creates an empty database (no tables) and returns its URL. */
export async function createEmptyDatabase(): Promise<{
  url: string;
  name: string;
  drop(): Promise<void>;
}> {
  const serverUrl = inject("databaseUrl");
  const base = connectionOptionsFromUrl(serverUrl);
  const name = `${base.database.slice(0, 40)}_${randomBytes(5).toString("hex")}`;
  const admin = await mariadb.createConnection({ ...base, database: undefined });
  try {
    await admin.query(
      `CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`,
    );
  } catch (error) {
    throw new Error(
      `Cannot create the test database ${name} (${String(error)}). The user in TEST_DATABASE_URL/DATABASE_URL needs CREATE and DROP privileges.`,
      { cause: error },
    );
  } finally {
    await admin.end();
  }
  return {
    url: withDatabase(serverUrl, name),
    name,
    drop: async () => {
      const connection = await mariadb.createConnection({ ...base, database: undefined });
      try {
        await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
      } finally {
        await connection.end();
      }
    },
  };
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const empty = await createEmptyDatabase();
  await applyMigrations({ databaseUrl: empty.url, log: () => {} });
  const prisma = createPrismaClient(empty.url);
  const options = connectionOptionsFromUrl(empty.url);
  return {
    url: empty.url,
    name: empty.name,
    prisma,
    query: async <T>(sql: string, values: unknown[] = []) => {
      const connection = await mariadb.createConnection(options);
      try {
        return (await connection.query(sql, values)) as T;
      } finally {
        await connection.end();
      }
    },
    drop: async () => {
      await prisma.$disconnect();
      await empty.drop();
    },
  };
}

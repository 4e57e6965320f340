// The hand-written migrations and their applier:
// - the applier records migrations exactly as `prisma migrate deploy` does, skips applied ones,
//   refuses edited ones and stops after a failed one;
// - the database the migrations build matches prisma/schema.prisma (read with Prisma's own
//   schema parser), column by column, index by index, foreign key by foreign key.
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
  appendFileSync,
} from "node:fs";
import { createHash } from "node:crypto";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mariadb from "mariadb";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import {
  applyMigrations,
  connectionOptionsFromUrl,
  DEFAULT_MIGRATIONS_DIR,
  MigrationError,
  readMigrations,
} from "../scripts/apply-migrations.mjs";
import { createEmptyDatabase } from "./support/database.js";

type Row = Record<string, unknown>;

async function query<T = Row[]>(url: string, sql: string, values: unknown[] = []): Promise<T> {
  const connection = await mariadb.createConnection(connectionOptionsFromUrl(url));
  try {
    const rows: T = await connection.query(sql, values);
    return rows;
  } finally {
    await connection.end();
  }
}

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function emptyDatabase() {
  const db = await createEmptyDatabase();
  cleanups.push(() => db.drop());
  return db;
}

/** A copy of the real migrations in a directory whose path has a space, for editing. */
function copyOfMigrations(): string {
  const dir = join(mkdtempSync(join(tmpdir(), "qgo migrations ")), "migrations");
  cpSync(DEFAULT_MIGRATIONS_DIR, dir, { recursive: true });
  cleanups.push(() => rmSync(join(dir, ".."), { recursive: true, force: true }));
  return dir;
}

const silent = () => {};

describe("apply-migrations.mjs", () => {
  const migrations = readMigrations();

  it("finds the migration folders in name order with sha256 checksums of their files", () => {
    expect(migrations.length).toBeGreaterThan(0);
    const names = migrations.map((m) => m.name);
    expect(names).toEqual([...names].sort());
    for (const migration of migrations) {
      expect(migration.name).toMatch(/^\d{14}_[a-z0-9_]+$/);
      const bytes = readFileSync(join(DEFAULT_MIGRATIONS_DIR, migration.name, "migration.sql"));
      expect(migration.checksum).toBe(createHash("sha256").update(bytes).digest("hex"));
    }
  });

  it("applies every migration and records each one the way prisma migrate deploy does", async () => {
    const db = await emptyDatabase();
    const before = Date.now();
    const result = await applyMigrations({ databaseUrl: db.url, log: silent });
    expect(result).toEqual({ applied: migrations.map((m) => m.name), skipped: [] });

    const records = await query(
      db.url,
      "SELECT * FROM _prisma_migrations ORDER BY started_at, migration_name",
    );
    expect(records).toHaveLength(migrations.length);
    records.forEach((record, index) => {
      const migration = migrations[index];
      expect(record.id).toMatch(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
      expect(record.migration_name).toBe(migration?.name);
      expect(record.checksum).toBe(migration?.checksum);
      expect(record.logs).toBeNull();
      expect(record.rolled_back_at).toBeNull();
      expect(Number(record.applied_steps_count)).toBe(1);
      expect(record.finished_at).toBeInstanceOf(Date);
      expect((record.finished_at as Date).getTime()).toBeGreaterThanOrEqual(
        (record.started_at as Date).getTime(),
      );
      expect((record.started_at as Date).getTime()).toBeGreaterThan(before - 60_000);
    });

    // The bookkeeping table has the columns and types Prisma's schema engine gives it.
    const columns = await query(
      db.url,
      "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = '_prisma_migrations' ORDER BY ORDINAL_POSITION",
    );
    expect(
      columns.map((c) => [c.name, String(c.type).replace(/^int\(10\)/, "int"), c.nullable]),
    ).toEqual([
      ["id", "varchar(36)", "NO"],
      ["checksum", "varchar(64)", "NO"],
      ["finished_at", "datetime(3)", "YES"],
      ["migration_name", "varchar(255)", "NO"],
      ["logs", "text", "YES"],
      ["rolled_back_at", "datetime(3)", "YES"],
      ["started_at", "datetime(3)", "NO"],
      ["applied_steps_count", "int unsigned", "NO"],
    ]);

    // Where the server given to the tests was migrated by the real `prisma migrate deploy`
    // (as in `dagger call test`), its records must agree with ours.
    const base = inject("databaseUrl");
    const prismaRecords = await query(
      base,
      "SELECT migration_name, checksum, applied_steps_count, logs FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name",
    ).catch(() => undefined);
    if (prismaRecords && prismaRecords.length > 0) {
      expect(
        prismaRecords.map((r) => [
          r.migration_name,
          r.checksum,
          Number(r.applied_steps_count),
          r.logs,
        ]),
      ).toEqual(migrations.map((m) => [m.name, m.checksum, 1, null]));
    }
  });

  it("skips applied migrations on a rerun and changes nothing", async () => {
    const db = await emptyDatabase();
    await applyMigrations({ databaseUrl: db.url, log: silent });
    const before = await query(
      db.url,
      "SELECT id, checksum, finished_at FROM _prisma_migrations ORDER BY id",
    );
    const lines: string[] = [];
    const rerun = await applyMigrations({ databaseUrl: db.url, log: (line) => lines.push(line) });
    expect(rerun).toEqual({ applied: [], skipped: migrations.map((m) => m.name) });
    expect(
      await query(db.url, "SELECT id, checksum, finished_at FROM _prisma_migrations ORDER BY id"),
    ).toEqual(before);
    expect(lines.at(-1)).toBe(`0 migration(s) applied, ${migrations.length} already applied`);
  });

  it("applies only a migration added later", async () => {
    const db = await emptyDatabase();
    await applyMigrations({ databaseUrl: db.url, log: silent });
    const dir = copyOfMigrations();
    mkdirSync(join(dir, "20991231000000_add_customer_notes"));
    writeFileSync(
      join(dir, "20991231000000_add_customer_notes", "migration.sql"),
      "-- AlterTable\nALTER TABLE `shipments` ADD COLUMN `notes` TEXT NULL;\n",
    );
    const result = await applyMigrations({ databaseUrl: db.url, migrationsDir: dir, log: silent });
    expect(result.applied).toEqual(["20991231000000_add_customer_notes"]);
    const notes = await query(
      db.url,
      "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = 'shipments' AND column_name = 'notes'",
    );
    expect(Number(notes[0]?.n)).toBe(1);
  });

  it("refuses to run when an applied migration's file was changed", async () => {
    const db = await emptyDatabase();
    await applyMigrations({ databaseUrl: db.url, log: silent });
    const dir = copyOfMigrations();
    const first = migrations[0]?.name ?? "";
    appendFileSync(join(dir, first, "migration.sql"), "\n-- edited after release\n");
    const attempt = applyMigrations({ databaseUrl: db.url, migrationsDir: dir, log: silent });
    await expect(attempt).rejects.toBeInstanceOf(MigrationError);
    await expect(
      applyMigrations({ databaseUrl: db.url, migrationsDir: dir, log: silent }),
    ).rejects.toThrow(`Migration ${first} was changed after it was applied`);
    const records = await query(
      db.url,
      "SELECT checksum FROM _prisma_migrations WHERE migration_name = ?",
      [first],
    );
    expect(records.map((r) => r.checksum)).toEqual([migrations[0]?.checksum]);
  });

  it("records a failed migration with its error and refuses further runs until it is resolved", async () => {
    const db = await emptyDatabase();
    const dir = copyOfMigrations();
    mkdirSync(join(dir, "20991231000000_broken"));
    writeFileSync(
      join(dir, "20991231000000_broken", "migration.sql"),
      "ALTER TABLE `no_such_table` ADD COLUMN `x` INT;\n",
    );
    await expect(
      applyMigrations({ databaseUrl: db.url, migrationsDir: dir, log: silent }),
    ).rejects.toThrow(/Migration 20991231000000_broken failed: .*no_such_table/);
    const [failed] = await query(
      db.url,
      "SELECT * FROM _prisma_migrations WHERE migration_name = '20991231000000_broken'",
    );
    expect(failed).toMatchObject({ finished_at: null, rolled_back_at: null });
    expect(Number(failed?.applied_steps_count)).toBe(0);
    expect(String(failed?.logs)).toContain("no_such_table");

    await expect(
      applyMigrations({ databaseUrl: db.url, migrationsDir: dir, log: silent }),
    ).rejects.toThrow(
      "Migration 20991231000000_broken failed earlier and is recorded as unfinished",
    );
  });

  it("explains a missing or malformed DATABASE_URL", async () => {
    await expect(applyMigrations({ databaseUrl: undefined, log: silent })).rejects.toThrow(
      "DATABASE_URL is not set",
    );
    await expect(
      applyMigrations({ databaseUrl: "postgres://u@h/db", log: silent }),
    ).rejects.toThrow("DATABASE_URL must start with mysql:// or mariadb://");
    await expect(applyMigrations({ databaseUrl: "mysql://u@h:3306", log: silent })).rejects.toThrow(
      "names no database",
    );
  });
});

// --- The migrated database against schema.prisma -----------------------------------------

interface DmmfField {
  name: string;
  kind: "scalar" | "enum" | "object";
  type: string;
  isRequired: boolean;
  isId: boolean;
  isUpdatedAt: boolean;
  nativeType: [string, string[]] | null;
  default?: { name: string; args: unknown[] } | string | number | boolean;
  relationFromFields?: string[];
  relationToFields?: string[];
  relationOnDelete?: string;
  relationOnUpdate?: string;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface Dmmf {
  datamodel: {
    models: DmmfModel[];
    enums: { name: string; values: { name: string }[] }[];
    indexes: {
      model: string;
      type: "id" | "unique" | "normal";
      dbName?: string | null;
      fields: { name: string }[];
    }[];
  };
}

function readSchemaDmmf(): Dmmf {
  const require = createRequire(import.meta.url);
  const schemaWasm = require("@prisma/prisma-schema-wasm") as { get_dmmf(params: string): string };
  const schema = readFileSync(join(DEFAULT_MIGRATIONS_DIR, "..", "schema.prisma"), "utf8");
  return JSON.parse(
    schemaWasm.get_dmmf(JSON.stringify({ prismaSchema: [["schema.prisma", schema]] })),
  ) as Dmmf;
}

/** Column type Prisma gives a field on MySQL, in information_schema's spelling. */
function expectedColumnType(field: DmmfField, dmmf: Dmmf): string {
  if (field.kind === "enum") {
    const values = dmmf.datamodel.enums.find((e) => e.name === field.type)?.values ?? [];
    return `enum(${values.map((v) => `'${v.name}'`).join(",")})`;
  }
  if (field.nativeType) {
    const [name, args] = field.nativeType;
    return `${name.toLowerCase()}${args.length > 0 ? `(${args.join(",")})` : ""}`;
  }
  const defaults: Record<string, string> = {
    Int: "int",
    BigInt: "bigint",
    String: "varchar(191)",
    Boolean: "tinyint(1)",
    DateTime: "datetime(3)",
    Float: "double",
    Decimal: "decimal(65,30)",
    Json: "json",
  };
  const type = defaults[field.type];
  if (!type) throw new Error(`no expected MySQL type for ${field.type}`);
  return type;
}

function expectedDefault(field: DmmfField): string | null {
  const value = field.default;
  if (value === undefined || (typeof value === "object" && value.name === "autoincrement"))
    return null;
  if (typeof value === "object" && value.name === "now") return "current_timestamp(3)";
  if (typeof value === "object") throw new Error(`unexpected default function ${value.name}()`);
  return String(value).toLowerCase();
}

/** MariaDB and MySQL spell types and defaults slightly differently; compare one spelling. */
const normalizeType = (type: string) =>
  type.replace(/^int\(11\)/, "int").replace(/^bigint\(20\)/, "bigint");
const normalizeDefault = (value: unknown) =>
  typeof value === "string" && value !== "NULL"
    ? value.replace(/^'(.*)'$/, "$1").toLowerCase()
    : null;

describe("migrations match prisma/schema.prisma", () => {
  const dmmf = readSchemaDmmf();
  const models = dmmf.datamodel.models;
  const tableOf = (model: string) => {
    const found = models.find((m) => m.name === model);
    return found?.dbName ?? found?.name ?? model;
  };
  let url: string;

  beforeAll(async () => {
    const db = await emptyDatabase();
    url = db.url;
    await applyMigrations({ databaseUrl: url, log: silent });
  });

  it("creates exactly the schema's tables (plus Prisma's bookkeeping table), all utf8mb4_unicode_ci", async () => {
    const tables = await query(
      url,
      "SELECT TABLE_NAME AS name, TABLE_COLLATION AS collation FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY TABLE_NAME",
    );
    expect(tables.map((t) => t.name).sort()).toEqual(
      [...models.map((m) => tableOf(m.name)), "_prisma_migrations"].sort(),
    );
    for (const table of tables) expect(table.collation).toBe("utf8mb4_unicode_ci");
  });

  it("gives every scalar field a column of the right type, nullability and default, in field order", async () => {
    for (const model of models) {
      const table = tableOf(model.name);
      const columns = await query(
        url,
        "SELECT COLUMN_NAME AS name, COLUMN_TYPE AS type, IS_NULLABLE AS nullable, COLUMN_DEFAULT AS dflt, EXTRA AS extra FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name = ? ORDER BY ORDINAL_POSITION",
        [table],
      );
      const fields = model.fields.filter((f) => f.kind !== "object");
      expect(
        columns.map((c) => ({
          name: c.name,
          type: normalizeType(String(c.type)),
          nullable: c.nullable === "YES",
          default: normalizeDefault(c.dflt),
          autoIncrement: String(c.extra).includes("auto_increment"),
        })),
        `columns of ${table}`,
      ).toEqual(
        fields.map((f) => ({
          name: f.name,
          type: expectedColumnType(f, dmmf),
          nullable: !f.isRequired,
          default: expectedDefault(f),
          autoIncrement: typeof f.default === "object" && f.default.name === "autoincrement",
        })),
      );
    }
  });

  it("has exactly the schema's indexes, with Prisma's default names", async () => {
    const rows = await query(
      url,
      "SELECT TABLE_NAME AS tbl, INDEX_NAME AS name, NON_UNIQUE AS nonUnique, COLUMN_NAME AS col FROM information_schema.statistics WHERE table_schema = DATABASE() AND TABLE_NAME <> '_prisma_migrations' ORDER BY TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX",
    );
    const actual = new Map<string, { unique: boolean; columns: string[] }>();
    for (const row of rows) {
      const key = `${String(row.tbl)}.${String(row.name)}`;
      const entry = actual.get(key) ?? { unique: Number(row.nonUnique) === 0, columns: [] };
      entry.columns.push(String(row.col));
      actual.set(key, entry);
    }
    const expected = new Map<string, { unique: boolean; columns: string[] }>();
    for (const index of dmmf.datamodel.indexes) {
      const table = tableOf(index.model);
      const columns = index.fields.map((f) => f.name);
      const name =
        index.type === "id"
          ? "PRIMARY"
          : (index.dbName ??
            `${table}_${columns.join("_")}_${index.type === "unique" ? "key" : "idx"}`);
      expected.set(`${table}.${name}`, { unique: index.type !== "normal", columns });
    }
    expect(Object.fromEntries(actual)).toEqual(Object.fromEntries(expected));
  });

  it("has the schema's foreign keys with Prisma's names and referential actions", async () => {
    const rows = await query(
      url,
      `SELECT rc.CONSTRAINT_NAME AS name, rc.TABLE_NAME AS tbl, rc.REFERENCED_TABLE_NAME AS refTable,
              rc.DELETE_RULE AS onDelete, rc.UPDATE_RULE AS onUpdate,
              GROUP_CONCAT(k.COLUMN_NAME ORDER BY k.ORDINAL_POSITION) AS cols,
              GROUP_CONCAT(k.REFERENCED_COLUMN_NAME ORDER BY k.ORDINAL_POSITION) AS refCols
         FROM information_schema.REFERENTIAL_CONSTRAINTS rc
         JOIN information_schema.KEY_COLUMN_USAGE k
           ON k.CONSTRAINT_SCHEMA = rc.CONSTRAINT_SCHEMA AND k.CONSTRAINT_NAME = rc.CONSTRAINT_NAME AND k.TABLE_NAME = rc.TABLE_NAME
        WHERE rc.CONSTRAINT_SCHEMA = DATABASE()
        GROUP BY rc.CONSTRAINT_NAME, rc.TABLE_NAME, rc.REFERENCED_TABLE_NAME, rc.DELETE_RULE, rc.UPDATE_RULE
        ORDER BY rc.CONSTRAINT_NAME`,
    );
    const action = (value: string | undefined, fallback: string) =>
      (value ?? fallback).replace(/([a-z])([A-Z])/g, "$1 $2").toUpperCase();
    const expected = models
      .flatMap((model) =>
        model.fields
          .filter((f) => f.kind === "object" && (f.relationFromFields?.length ?? 0) > 0)
          .map((f) => {
            const table = tableOf(model.name);
            const from = f.relationFromFields ?? [];
            return {
              name: `${table}_${from.join("_")}_fkey`,
              tbl: table,
              refTable: tableOf(f.type),
              onDelete: action(f.relationOnDelete, f.isRequired ? "Restrict" : "SetNull"),
              onUpdate: action(f.relationOnUpdate, "Cascade"),
              cols: from.join(","),
              refCols: (f.relationToFields ?? []).join(","),
            };
          }),
      )
      .sort((a, b) => a.name.localeCompare(b.name));
    expect(rows.map((r) => ({ ...r }))).toEqual(expected);
  });
});

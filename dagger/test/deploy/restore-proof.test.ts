// The restore proof and the migration rehearsal on the VPS-in-a-box (real sshd, dockerd,
// MariaDB, the product's images): every backup is restored into a throwaway copy and compared
// table by table with the live database at the dump; a release's pending migrations run on
// that copy first. The tests of this file run in order on staging and share its deploys:
// v1 -> a half-way failing migration (refused, v1 serving throughout) -> v2 with writes during
// the backup -> damaged backups (not counted) -> v2 again (nothing pending; a leftover copy
// removed) -> rollback --backup (its safety backup proven first; checksums verified after the
// restore) -> the same with an old backup whose checksums are of the first method -> a rollback
// whose safety backup does not restore (stopped) -> a rollback on a server without room for a
// copy (not blocked) -> rehearsal off.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, httpRequest, vpsBox } from "../vps/helpers.js";
import { deploy, listBackups, rollback } from "../../src/deploy/index.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { OperationReport } from "../../src/deploy/operation.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  appliedMigrations,
  backupsOf,
  boxCredentials,
  boxEnvironment,
  createShipment,
  databaseFingerprint,
  history,
  outcome,
  resetEnvironment,
  shipmentExists,
  startSlack,
  stateFile,
  tableNames,
  testCaller,
  releaseImages,
  boxExecutor,
} from "./support.js";
import { script, serviceContainer } from "../../src/deploy/commands/shared.js";
import {
  CHECKSUMS_HEADER,
  MYSQL_CLIENT,
  TABLE_CHECKSUMS,
} from "../../src/deploy/commands/database.js";

let box: VpsBox;
let env: EnvironmentSettings;
/**
 * The same environment with a migrations dir the image lacks: what is pending cannot be known,
 * which counts as pending, so the restore proof must pass before anything changes.
 */
let pending: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let slack: Awaited<ReturnType<typeof startSlack>>;
let credentials: ReturnType<typeof boxCredentials>;
const lines: string[] = [];
const caller = () => testCaller("proof", lines);
const images = (release: "v1" | "v2") => releaseImages(box, release);
let backupBeforeV2 = "";

/** A migration that changes the database and then fails, as a real half-way failure does. */
const HALF_WAY = "20991231000000_half_way";
const HALF_WAY_SQL = [
  "CREATE TABLE `half_way` (`id` INT PRIMARY KEY, `note` VARCHAR(40) NOT NULL);",
  "INSERT INTO `half_way` VALUES (1, 'written half-way');",
  "ALTER TABLE `shipments` ADD COLUMN `half_way_note` VARCHAR(40) NULL;",
  "UPDATE `shipments` SET `half_way_note` = 'changed half-way';",
  "INSERT INTO `no_such_table` VALUES (1);",
].join("\n");
/** The release's migrate command: its own migrations plus HALF_WAY, applied by the same tool. */
const halfWayMigrate = [
  "sh",
  "-c",
  `set -e; m=$(mktemp -d); cp -R prisma/migrations/. "$m/"; mkdir "$m/${HALF_WAY}"; ` +
    `echo ${Buffer.from(HALF_WAY_SQL).toString("base64")} | base64 -d > "$m/${HALF_WAY}/migration.sql"; ` +
    `exec node scripts/apply-migrations.mjs "$m"`,
];

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  await resetEnvironment(box, "staging");
  ({ env, releaseFiles } = await boxEnvironment(box, "staging"));
  pending = { ...env, migrationsDir: "prisma/not-in-the-image" };
});

afterAll(() => {
  slack?.server.close();
});

/** The copies (containers and volumes) of staging's project on the box. */
async function copiesLeft(): Promise<string[]> {
  const docker = boxDocker(box);
  const label = `label=qgo.copy=${box.projects.staging}`;
  const containers = (await docker`docker ps -aq --filter ${label}`).stdout.trim();
  const volumes = (await docker`docker volume ls -q --filter ${label}`).stdout.trim();
  return [containers, volumes].filter(Boolean);
}

/** Requests /health through the frontend every 100 ms while `during` runs: what users saw. */
async function servedDuring<T>(
  during: Promise<T>,
): Promise<{ result: T; seen: { status: number; version: string }[] }> {
  const seen: { status: number; version: string }[] = [];
  let done = false;
  const poller = (async () => {
    while (!done) {
      try {
        const response = await httpRequest(`http://127.0.0.1:${box.ports.staging.frontend}/health`);
        const body = (await response.json().catch(() => ({}))) as { version?: string };
        seen.push({ status: response.status, version: body.version ?? "" });
      } catch {
        seen.push({ status: 0, version: "" });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  })();
  try {
    return { result: await during, seen };
  } finally {
    done = true;
    await poller;
  }
}

/** Runs `deploy` paused at the start of step `step`; `meanwhile` runs, then the deploy goes on. */
async function pausedAt<T>(
  step: string,
  run: () => Promise<T>,
  meanwhile: () => Promise<void> | void,
): Promise<T> {
  const pause = join(box.pauseDir, step);
  writeFileSync(pause, "");
  try {
    const running = run();
    const deadline = Date.now() + 180_000;
    while (!existsSync(`${pause}.reached`)) {
      if (Date.now() > deadline) throw new Error(`the deploy never reached ${step}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    await meanwhile();
    rmSync(pause, { force: true });
    return await running;
  } finally {
    rmSync(pause, { force: true });
    rmSync(`${pause}.reached`, { force: true });
  }
}

/**
 * Rewrites one member of backup `name` with `change` and writes the result as backup `to`
 * (the same one by default), keeping the archive itself well-formed.
 */
function rewriteBackup(
  name: string,
  member: string,
  change: (text: string) => string,
  to = name,
): void {
  const archive = join(box.backupsDir, name);
  const dir = mkdtempSync(join(tmpdir(), "qgo-rewrite-"));
  try {
    const members = execFileSync("tar", ["-tzf", archive], { encoding: "utf8" })
      .split("\n")
      .filter((m) => /^\.\/[^/]+\/?$/.test(m));
    execFileSync("tar", ["-C", dir, "-xzf", archive]);
    const file = join(dir, member);
    writeFileSync(file, change(readFileSync(file, "utf8")));
    execFileSync("tar", ["-C", dir, "-czf", join(box.backupsDir, to), ...members]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Rewrites the newest backup's db.sql with `change`; returns the backup's name. */
function damageNewestBackup(change: (dump: string) => string): string {
  const name = backupsOf(box, "staging").at(-1)!;
  rewriteBackup(name, "db.sql", change);
  return name;
}

const summaryOf = (report: OperationReport) => report.summary;

describe("restore proof and migration rehearsal on the VPS-in-a-box", () => {
  it("first deploy: nothing to prove or rehearse yet, and the report says so", async () => {
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v1") }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    expect(summaryOf(result.report)).toMatch(
      /nothing to prove: no database before this deploy; migration rehearsal nothing to rehearse on/,
    );
    for (let i = 0; i < 3; i++) await createShipment(box, "staging", `proof-customer-${i}`);
  });

  it("a migration that fails half-way is refused by the rehearsal: production untouched, v1 serving throughout", async () => {
    const before = await databaseFingerprint(box, "staging");
    const tablesBefore = await tableNames(box, "staging");
    const migrationsBefore = await appliedMigrations(box, "staging");
    const { result, seen } = await servedDuring(
      outcome(
        deploy(
          { env: { ...env, migrateCommand: halfWayMigrate }, releaseFiles, ...images("v2") },
          credentials,
          caller(),
        ),
      ),
    );
    expect(result.ok).toBe(false);
    const message = !result.ok ? result.error.message : "";
    // The migration's own error, quoted once, by the code that quotes the live migrate step's.
    expect(message).toMatch(
      new RegExp(
        `stopped at step rehearsal: the release's migration failed on a restored copy of staging's database \\(backup backup_staging_\\d{8}_\\d{6}\\.tar\\.gz\\), so it never ran on production: step rehearsal failed \\(exit 1\\): apply-migrations: Migration ${HALF_WAY} failed: .*no_such_table`,
        "s",
      ),
    );
    expect(message.match(/apply-migrations: Migration/g)).toHaveLength(1);
    expect(message).toMatch(/Nothing was changed on the server/);
    expect(slack.messages.at(-1)).toMatch(/stopped at rehearsal: .*no_such_table/s);
    const failed = history(box, "staging").at(-1)!;
    expect(failed).toMatchObject({
      result: "failed",
      failedStep: "rehearsal",
      rehearsal: "failed on the restored copy",
    });
    expect(String(failed.proof)).toMatch(/^restore proven: tables=4 rows=\d+$/);
    // Production: the same tables, rows and checksums; no live migrate step ever ran.
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await tableNames(box, "staging")).toEqual(tablesBefore);
    expect(await appliedMigrations(box, "staging")).toEqual(migrationsBefore);
    expect(result.report!.steps.map((s) => s.step)).not.toContain("migrate");
    // What users saw all along: v1, healthy, at every request.
    expect(seen.length).toBeGreaterThan(20);
    expect(seen.filter((s) => s.status !== 200 || s.version !== "v1-box")).toEqual([]);
    expect(await copiesLeft()).toEqual([]);
  });

  it("with writes going on during the backup, the proof holds; a good release passes the rehearsal and deploys", async () => {
    // A writer through the API all along (the app is briefly away while it is replaced:
    // those requests fail and are not counted).
    let writing = true;
    const written: { id: number; at: number }[] = [];
    const writer = (async () => {
      while (writing) {
        const id = await createShipment(box, "staging", "written-during-deploy").catch(() => 0);
        if (id) written.push({ id, at: Date.now() });
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
    let result;
    try {
      result = await outcome(deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()));
    } finally {
      writing = false;
      await writer;
    }
    if (!result.ok) throw result.error;
    const { report } = result;
    backupBeforeV2 = report.backup!;
    expect(report.summary).toMatch(
      /\(restore proven: tables=4 rows=\d+; migration rehearsal passed on the restored copy in \d+ s\)/,
    );
    expect(report.log.join("\n")).toMatch(/writes_paused_ms=\d+/);
    // Writes went on through the backup (and none was lost).
    const backupStep = report.steps.find((s) => s.step === "backup")!;
    const backupStart = Date.parse(backupStep.startedAt);
    const backupEnd = backupStart + backupStep.durationMs;
    const duringBackup = written.filter((w) => w.at > backupStart && w.at < backupEnd);
    expect(duringBackup.length).toBeGreaterThan(5);
    for (const { id } of written) expect(await shipmentExists(box, "staging", id)).toBe(true);
    // The pull ran beside preflight and the backup after both, alone; the upload while the
    // backup was restored and proven.
    const [preflight, pull, upload, proof] = ["preflight", "pull", "upload", "restore-proof"].map(
      (step) => report.steps.find((s) => s.step === step)!,
    );
    const span = (s: typeof pull) => [
      Date.parse(s!.startedAt),
      Date.parse(s!.startedAt) + s!.durationMs,
    ];
    const overlap = (a: typeof pull, b: typeof pull) => {
      const [aStart, aEnd] = span(a);
      const [bStart, bEnd] = span(b);
      return aStart! < bEnd! && bStart! < aEnd!;
    };
    expect(overlap(pull, preflight)).toBe(true);
    expect(overlap(pull, backupStep)).toBe(false);
    expect(overlap(upload, proof)).toBe(true);
    expect(report.steps.map((s) => s.step)).toEqual(
      expect.arrayContaining(["backup", "restore-proof", "rehearsal", "migrate", "health"]),
    );
    expect(await appliedMigrations(box, "staging")).toContain(box.v2Migration.name);
    expect(existsSync(join(box.backupsDir, `${backupBeforeV2}.proof`))).toBe(true);
    expect(readFileSync(stateFile(box, "staging", "backup-before-migration"), "utf8")).toBe(
      `${backupBeforeV2}\n`,
    );
    const recorded = history(box, "staging").at(-1)!;
    expect(recorded.result).toBe("success");
    expect(String(recorded.proof)).toMatch(/^restore proven: tables=4 rows=\d+$/);
    expect(String(recorded.rehearsal)).toMatch(/^passed on the restored copy/);
    const listing = await listBackups(env, credentials, caller());
    expect(listing.summary).toContain(`${backupBeforeV2} `);
    expect(listing.summary).toMatch(
      new RegExp(`${backupBeforeV2} \\d+ restore proven \\(tables=4 rows=\\d+\\)`),
    );
    expect(await copiesLeft()).toEqual([]);
  });

  it.each([
    {
      damage: "truncated mid-statement",
      change: (dump: string) => dump.slice(0, Math.floor(dump.length / 2)),
      why: /ERROR 1064 .*\n.*\n?restore proof failed: the dump does not load into a fresh database/,
    },
    {
      damage: "truncated after a statement",
      // Cut after the first table's data: what is left loads, without the other tables.
      change: (dump: string) => dump.slice(0, dump.indexOf("UNLOCK TABLES;") + 15),
      why: /differs from the live database at the dump[\s\S]*documents: 0 rows at the dump, missing after the restore[\s\S]*restore proof failed: checksums differ/,
    },
    {
      damage: "corrupted",
      change: (dump: string) => dump.replace("proof-customer-1", "proof-customer-X"),
      why: /shipments: same rows, different content[\s\S]*restore proof failed: checksums differ/,
    },
    {
      // The checksums of the first method read a DECIMAL as an integer: 12.50 and 12.49 alike.
      damage: "changed in a decimal's second place",
      change: (dump: string) =>
        dump.replace(/('proof-customer-1'[^()]*?)12\.50/, (_, row: string) => `${row}12.49`),
      why: /shipments: same rows, different content[\s\S]*restore proof failed: checksums differ/,
    },
  ])(
    "a backup whose dump was $damage after writing is not counted, and nothing changes",
    async ({ change, why }) => {
      const before = await databaseFingerprint(box, "staging");
      let damaged = "";
      const result = await outcome(
        pausedAt(
          "restore-proof",
          () => deploy({ env: pending, releaseFiles, ...images("v2") }, credentials, caller()),
          () => {
            damaged = damageNewestBackup(change);
          },
        ),
      );
      expect(result.ok).toBe(false);
      const message = !result.ok ? result.error.message : "";
      expect(message).toMatch(
        new RegExp(
          `stopped at step restore-proof: backup ${damaged} did not prove restorable, so it does not count`,
        ),
      );
      expect(message).toMatch(why);
      expect(message).toContain(`kept as ${box.backupsDir}/${damaged}.unproven`);
      expect(backupsOf(box, "staging")).not.toContain(damaged);
      expect(existsSync(join(box.backupsDir, `${damaged}.unproven`))).toBe(true);
      const listing = await listBackups(env, credentials, caller());
      expect(listing.summary).not.toContain(damaged);
      expect(await databaseFingerprint(box, "staging")).toEqual(before);
      expect(await copiesLeft()).toEqual([]);
    },
  );

  it("nothing pending: a backup that does not prove is a loud note; the release serves, no data was touched", async () => {
    const before = await databaseFingerprint(box, "staging");
    let damaged = "";
    const result = await outcome(
      pausedAt(
        "restore-proof",
        () => deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()),
        () => {
          damaged = damageNewestBackup((dump) =>
            dump.replace("proof-customer-1", "proof-customer-X"),
          );
        },
      ),
    );
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      new RegExp(
        `NOTE: The backup ${damaged} did not prove restorable \\(checksums differ\\); it is kept as ${damaged}\\.unproven\\. No migration was pending, so this deploy changed no data and went on`,
      ),
    );
    expect(result.report.summary).toContain("NOT proven restorable: checksums differ");
    expect(existsSync(join(box.backupsDir, `${damaged}.unproven`))).toBe(true);
    expect(String(history(box, "staging").at(-1)!.proof)).toMatch(/^NOT proven restorable/);
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await copiesLeft()).toEqual([]);
  });

  it("refuses before starting a copy the server's memory would not carry", async () => {
    const before = await databaseFingerprint(box, "staging");
    const result = await outcome(
      deploy(
        { env: { ...pending, proofMemoryMb: 10_000_000 }, releaseFiles, ...images("v2") },
        credentials,
        caller(),
      ),
    );
    expect(!result.ok && result.error.message).toMatch(
      /stopped at step restore-proof: .*a copy of the database needs 10000000 MB \(proofMemoryMb\): free memory or lower proofMemoryMb/s,
    );
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await copiesLeft()).toEqual([]);
  });

  it("nothing pending: the rehearsal is skipped and the report says so; a copy left by a killed run is removed", async () => {
    // What a run killed between proof and rehearsal leaves: a labelled copy and its volume.
    const docker = boxDocker(box);
    const label = `qgo.copy=${box.projects.staging}`;
    await docker`docker volume create --label ${label} qgo-copy-leftover`;
    await docker`docker run -d --name qgo-copy-leftover --label ${label} --network none -v qgo-copy-leftover:/data --entrypoint sleep ${box.dbImage} 600`;
    expect((await copiesLeft()).length).toBe(2);
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /migration rehearsal skipped: no migration pending \(2 in the image, all applied\)/,
    );
    expect(result.report.summary).toMatch(
      /removed the throwaway database copy an interrupted operation had left/,
    );
    expect(await copiesLeft()).toEqual([]);
    // Retention keeps one unproven archive (the newest) for inspection.
    const unproven = execFileSync("ls", [box.backupsDir], { encoding: "utf8" })
      .split("\n")
      .filter((n) => n.startsWith("backup_staging_") && n.endsWith(".unproven"));
    expect(unproven).toHaveLength(1);
  });

  it("the copy starts from a template made once: reused, made again when incomplete or made of other settings, kept when the copies go", async () => {
    const docker = boxDocker(box);
    const template = `qgo-copy-template-${box.projects.staging}`;
    const deployed = async () => {
      const result = await outcome(
        deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()),
      );
      if (!result.ok) throw result.error;
      const log = result.report.log.join("\n");
      expect(log).toMatch(/restore_proof=ok tables=\d+/);
      expect(await copiesLeft()).toEqual([]);
      return log.match(/copy_template=(\w+)/)?.[1];
    };
    // The earlier proofs made it; the copies are gone, the template stays.
    expect((await docker`docker volume ls -q --filter ${`name=^${template}$`}`).stdout.trim()).toBe(template); // prettier-ignore
    expect(await deployed()).toBe("reused");
    // A run killed while making it leaves no mark of completion.
    await docker`docker run --rm -v ${`${template}:/t`} --entrypoint rm ${box.dbImage} /t/qgo-template-ready`;
    expect(await deployed()).toBe("made");
    // A whole template, but of other settings (another image or password): its key differs.
    const label = async (name: string) =>
      (await docker`docker volume inspect --format ${`{{index .Labels "${name}"}}`} ${template}`).stdout.trim(); // prettier-ignore
    const root = await label("qgo.copy-root");
    await docker`docker volume create qgo-template-saved`;
    await docker`docker run --rm -v ${`${template}:/from`} -v qgo-template-saved:/to --entrypoint cp ${box.dbImage} -a /from/. /to/`;
    await docker`docker volume rm ${template}`;
    await docker`docker volume create --label ${`qgo.copy-template=${box.projects.staging}`} --label ${`qgo.copy-root=${root}`} --label qgo.copy-key=0000 ${template}`;
    await docker`docker run --rm -v qgo-template-saved:/from -v ${`${template}:/to`} --entrypoint cp ${box.dbImage} -a /from/. /to/`;
    await docker`docker volume rm qgo-template-saved`;
    expect(await deployed()).toBe("made");
    expect(await label("qgo.copy-key")).not.toBe("0000");
  });

  it("rollback --backup restores what was proven: the tables' checksums are checked after the restore", async () => {
    const result = await outcome(rollback({ env, backup: backupBeforeV2 }, credentials, caller()));
    if (!result.ok) throw result.error;
    const { report } = result;
    expect(report.log.join("\n")).toMatch(/restore_verified=ok tables=4 rows=\d+/);
    expect(await appliedMigrations(box, "staging")).not.toContain(box.v2Migration.name);
    // The safety backup was proven before the live database was replaced.
    const safety = report.backup!;
    const steps = report.steps.map((s) => s.step);
    expect(steps.indexOf("restore-proof")).toBeGreaterThan(steps.indexOf("backup"));
    expect(steps.indexOf("restore-proof")).toBeLessThan(steps.indexOf("restore-db"));
    expect(report.summary).toMatch(
      new RegExp(
        `Safety backup taken before: ${safety} \\(restore proven: tables=\\d+ rows=\\d+\\)`,
      ),
    );
    expect(existsSync(join(box.backupsDir, `${safety}.proof`))).toBe(true);
    expect(String(history(box, "staging").at(-1)!.proof)).toMatch(/^restore proven: tables=\d+/);
    expect(await copiesLeft()).toEqual([]);
  });

  it("rollback --backup of an old backup made before the current checksum method: kept by retention, checked by its own method", async () => {
    // The live database is now what backupBeforeV2 holds: its checksums by the first method
    // (MD5 over HEX, no header line) go into a copy of that backup, as older backups have them.
    const executor = await boxExecutor(box);
    const legacy = await executor
      .run({
        step: "legacy-checksums",
        description: "the live tables' checksums by the first method",
        timeoutMs: 60_000,
        script: script([
          serviceContainer(env, "db", "db"),
          ...MYSQL_CLIENT,
          ...TABLE_CHECKSUMS,
          `table_checksums "$db" "$(env_of "$db" MYSQL_DATABASE)" /dev/null`,
        ]),
      })
      .finally(() => executor.close());
    expect(legacy.stdout).toMatch(/^shipments\t\d+\t\d+$/m);
    expect(legacy.stdout).not.toContain(CHECKSUMS_HEADER);
    const current = execFileSync("tar", ["-xzOf", join(box.backupsDir, backupBeforeV2), "--occurrence=1", "./checksums.tsv"], { encoding: "utf8" }); // prettier-ignore
    expect(current.split("\n")[0]).toBe(CHECKSUMS_HEADER);
    expect(legacy.stdout).not.toBe(current.split("\n").slice(1).join("\n"));
    // The oldest name there can be: beyond the newest five, which retention keeps. The
    // rollback's own retention must keep the backup it is about to restore all the same.
    const older = "backup_staging_20200101_000000.tar.gz";
    rewriteBackup(backupBeforeV2, "checksums.tsv", () => `${legacy.stdout.trimEnd()}\n`, older);
    const result = await outcome(rollback({ env, backup: older }, credentials, caller()));
    if (!result.ok) throw result.error;
    expect(result.report.log.join("\n")).toMatch(/restore_verified=ok tables=4 rows=\d+/);
    expect(result.report.log.join("\n")).toContain(
      `kept ${older}: the backup this rollback restores`,
    );
    expect(backupsOf(box, "staging")).toContain(older);
    expect(await appliedMigrations(box, "staging")).not.toContain(box.v2Migration.name);
  });

  it("rollback --backup stops before the live database is replaced when its safety backup does not restore", async () => {
    const before = await databaseFingerprint(box, "staging");
    const current = readFileSync(stateFile(box, "staging", "current"), "utf8");
    let damaged = "";
    const result = await outcome(
      pausedAt(
        "restore-proof",
        () => rollback({ env, backup: backupBeforeV2 }, credentials, caller()),
        () => {
          damaged = damageNewestBackup((dump) =>
            dump.replace("proof-customer-2", "proof-customer-Y"),
          );
        },
      ),
    );
    expect(result.ok).toBe(false);
    const message = !result.ok ? result.error.message : "";
    expect(message).toMatch(
      /Rollback of staging stopped at step restore-proof: .*shipments: same rows, different content.*restore proof failed: checksums differ.*Nothing was changed on the server/s,
    );
    expect(result.report!.steps.map((s) => s.step)).not.toContain("restore-db");
    expect(existsSync(join(box.backupsDir, `${damaged}.unproven`))).toBe(true);
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(readFileSync(stateFile(box, "staging", "current"), "utf8")).toBe(current);
    expect(await copiesLeft()).toEqual([]);
  });

  it("a rollback is not blocked when the server has no room for a copy: the safety backup is verified, and the report says it is not proven", async () => {
    const result = await outcome(
      rollback(
        { env: { ...env, proofMemoryMb: 10_000_000 }, backup: backupBeforeV2 },
        credentials,
        caller(),
      ),
    );
    if (!result.ok) throw result.error;
    const safety = result.report.backup!;
    expect(result.report.summary).toMatch(
      new RegExp(
        `Safety backup taken before: ${safety} \\(verified but not proven restorable: the server has \\d+ MB of memory available, a copy of the database needs 10000000 MB`,
      ),
    );
    expect(result.report.summary).toMatch(
      /NOTE: The safety backup .* is verified but not proven restorable: .*so the rollback went on\./s,
    );
    expect(existsSync(join(box.backupsDir, `${safety}.proof`))).toBe(false);
    expect(backupsOf(box, "staging")).toContain(safety);
    expect(await copiesLeft()).toEqual([]);
  });

  it("rehearsal off for an environment: the deploy says so, never silently", async () => {
    const result = await outcome(
      deploy(
        { env: { ...env, rehearseMigrations: false }, releaseFiles, ...images("v2") },
        credentials,
        caller(),
      ),
    );
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /migration rehearsal off for this environment \(rehearseMigrations: false\).*NOTE: Migration rehearsal is off for staging \(rehearseMigrations: false in deploy\/environments\/staging\.json\): pending migrations run on the live database unrehearsed\./s,
    );
    expect(result.report.steps.map((s) => s.step)).not.toContain("rehearsal");
    expect(await copiesLeft()).toEqual([]);
  });
});

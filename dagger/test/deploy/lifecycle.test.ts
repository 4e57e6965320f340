// Deploys and rollbacks of staging on the VPS-in-a-box (real sshd, dockerd, Compose v2,
// MariaDB, the product's images v1/v2/v3). The tests of this file run in order and share
// the deploys: v1 -> data written through the API -> v2 -> v3 (unhealthy, rolled back) ->
// rollback --to previous -> rollback --backup. Each asserts the database and what serves.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { vpsBox } from "../vps/helpers.js";
import {
  deploy,
  historyAndStatus,
  rollback,
  listBackups,
  listReleases,
  status,
} from "../../src/deploy/index.js";
import { entriesOfRun, renderOperationSummary } from "../../src/deploy/summary.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { OperationReport } from "../../src/deploy/operation.js";
import * as commands from "../../src/deploy/commands/index.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  appliedMigrations,
  backupsOf,
  boxCredentials,
  boxEnvironment,
  createShipment,
  databaseFingerprint,
  downloadDocument,
  history,
  outcome,
  pngBytes,
  recordLog,
  resetEnvironment,
  secretLeaks,
  servedHealth,
  servedThroughFrontend,
  shipmentExists,
  startSlack,
  stateFile,
  tableNames,
  testCaller,
  uploadDocument,
  releaseImages,
} from "./support.js";

let box: VpsBox;
let env: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let slack: Awaited<ReturnType<typeof startSlack>>;
let credentials: ReturnType<typeof boxCredentials>;
const lines: string[] = [];
const caller = () => testCaller("lifecycle", lines);
const V3_RUN = "https://ci.example.invalid/runs/lifecycle-v3";

// Shared between the ordered tests of this file.
let shipmentV1 = 0;
let documentV1 = 0;
const documentBytes = pngBytes("written-under-v1");
let backupBeforeV2 = "";
let releaseV1 = "";

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  await resetEnvironment(box, "staging");
  ({ env, releaseFiles } = await boxEnvironment(box, "staging"));
});

afterAll(() => {
  slack?.server.close();
});

const images = (release: "v1" | "v2" | "v3") => releaseImages(box, release);

/** The step names a dry-run plan lists, without the recovery and the conditions that do not hold. */
const plannedSteps = (plan: OperationReport, ...notHolding: string[]) =>
  (plan.plan ?? "")
    .split("\n")
    .filter((line) => line.startsWith("### ") && !line.includes("(on failure"))
    .filter((line) => !notHolding.some((when) => line.includes(`(${when})`)))
    .map((line) => /^### ([a-z-]+)/.exec(line)![1]);

/** The steps an operation ran, without the release-record reads its steps make on the way. */
const ranSteps = (report: OperationReport) =>
  report.steps.map((s) => s.step).filter((step) => step !== "release");

describe("staging on the VPS-in-a-box", () => {
  it("deploys v1 on an empty server: database created, migrations applied, healthy", async () => {
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v1") }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    const { report } = result;
    releaseV1 = report.release ?? "";
    expect(report.summary).toMatch(
      /Deployed release r\d{8}_\d{6}_[0-9a-f]{6} \(version v1-box\) to staging: healthy/,
    );
    // Every runbook step ran, in order, once.
    expect(report.steps.map((s) => s.step)).toEqual([
      "lock",
      "preflight",
      "pull",
      "backup",
      "upload",
      "restore-proof",
      "migrate",
      "switch",
      "start",
      "route",
      "health",
      "retire",
      "record",
      "unlock",
    ]);
    // The dry-run plan is printed from the same runbook: the same steps in the same order.
    const plan = await deploy(
      { env, releaseFiles, ...images("v1"), dryRun: true },
      credentials,
      caller(),
    );
    // (No database before it: no copy to rehearse on.)
    expect(
      plannedSteps(plan, "when the restored copy is up and a migration may be pending"),
    ).toEqual(report.steps.map((s) => s.step));
    expect((await servedHealth(box, "staging")).version).toBe("v1-box");
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await appliedMigrations(box, "staging")).not.toContain(box.v2Migration.name);
    expect(await tableNames(box, "staging")).not.toContain(box.v2Migration.table);
    // The first deploy's backup holds no dump (there was no database) but is verified and kept.
    expect(backupsOf(box, "staging")).toEqual([report.backup]);
    expect(existsSync(stateFile(box, "staging", "lock"))).toBe(false);
    expect(slack.messages.at(-1)).toMatch(/Deployed release .* to staging: healthy/);
  });

  it("deploys v2: its migration applied, rows and uploaded files written under v1 kept", async () => {
    shipmentV1 = await createShipment(box, "staging", "Written under v1");
    documentV1 = await uploadDocument(box, "staging", shipmentV1, documentBytes);
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    backupBeforeV2 = result.report.backup ?? "";
    expect(backupBeforeV2).toMatch(/^backup_staging_\d{8}_\d{6}\.tar\.gz$/);
    // What the backup holds: the dump, the config (compose files, server .env, release.env),
    // the release record, uploads and logs.
    const listing = execFileSync("tar", ["-tzf", join(box.backupsDir, backupBeforeV2)], {
      encoding: "utf8",
    }).split("\n");
    for (const entry of [
      "./db.sql",
      "./config/compose.yaml",
      "./config/compose.staging.yaml",
      "./config/.env",
      "./config/release.env",
      "./release.json",
      "./backend/logs/",
    ]) {
      expect(listing, entry).toContain(entry);
    }
    expect(
      listing.some(
        (name) =>
          name.startsWith("./backend/uploads/") && name.length > "./backend/uploads/".length,
      ),
    ).toBe(true);
    const dump = execFileSync("tar", ["-xzOf", join(box.backupsDir, backupBeforeV2), "./db.sql"], {
      encoding: "utf8",
    });
    expect(dump).toContain("Written under v1");
    expect(dump.trimEnd().split("\n").at(-1)).toMatch(/^-- Dump completed/);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v2-box",
    });
    expect(await appliedMigrations(box, "staging")).toContain(box.v2Migration.name);
    expect(await tableNames(box, "staging")).toContain(box.v2Migration.table);
    expect(await shipmentExists(box, "staging", shipmentV1)).toBe(true);
    expect(await downloadDocument(box, "staging", shipmentV1, documentV1)).toEqual(documentBytes);
  });

  it("v3 never turns healthy: automatic rollback to v2, database identical, clear failure", async () => {
    const before = await databaseFingerprint(box, "staging");
    expect(Object.keys(before)).toContain("_prisma_migrations");
    const backupsBefore = backupsOf(box, "staging");
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v3") }, credentials, { ...caller(), runUrl: V3_RUN }),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).toMatch(
      /Deploy of release r\d{8}_\d{6}_[0-9a-f]{6} \(version v3-box\) to staging failed at step start/,
    );
    // Its new backend never turned healthy beside v2's, which served all along.
    expect(result.error.message).toMatch(/container qgo-staging-backend-\d+ is running unhealthy/);
    expect(result.error.message).toMatch(
      /Rolled back automatically: release r\S+ \(version v2-box\) serves again and is healthy; the database was not touched/,
    );
    expect(result.error.message).toMatch(/The lock was released/);
    const steps = result.report!.steps.map((s) => s.step);
    // Nothing was pending (v3 ships v2's migrations): no migrate, so no restore either.
    expect(steps).not.toContain("migrate");
    expect(steps.slice(steps.indexOf("start"))).toEqual([
      "start",
      "route-back",
      "restore-release",
      "health",
      "record",
      "unlock",
    ]);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v2-box",
    });
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await downloadDocument(box, "staging", shipmentV1, documentV1)).toEqual(documentBytes);
    expect(backupsOf(box, "staging")).toHaveLength(backupsBefore.length + 1);
    const last = history(box, "staging").at(-1);
    expect(last).toMatchObject({ action: "deploy", result: "rolled-back", failedStep: "start" });
    expect(existsSync(stateFile(box, "staging", "lock"))).toBe(false);
    expect(slack.messages.at(-1)).toMatch(/failed at step start.*Rolled back automatically/s);
  });

  it("the job summary of that run, read back from the server, shows each step, the backup, the automatic rollback and why, and what serves", async () => {
    const { history: jsonl, status: now } = await historyAndStatus(env, credentials, caller());
    const entries = entriesOfRun(jsonl, V3_RUN);
    expect(entries).toHaveLength(1);
    const markdown = renderOperationSummary({
      env: "staging",
      runUrl: V3_RUN,
      outcome: "failure",
      entries,
      status: now,
    });
    console.log(markdown);
    const entry = entries[0]!;
    expect(markdown).toContain("### Deploy ⚠️ failed, rolled back automatically");
    expect(markdown).toContain(`| Backup | \`${entry.backup}\` |`);
    expect(markdown).toMatch(/\| Automatic rollback \| yes: step `start` failed: .*unhealthy/);
    expect(markdown).toContain(`| Serving after it | \`${entry.serving}\` |`);
    // The backup's proof and the rehearsal are in the rolled-back entry too, as in a success.
    expect(markdown).toMatch(/\| Restore proof \| restore proven: tables=5 rows=\d+ \|/);
    expect(markdown).toContain(
      "| Migration rehearsal | skipped: no migration pending (2 in the image, all applied) |",
    );
    const stepRows = [
      ...markdown.matchAll(/^\| `([a-z-]+)` \| ([\d.]+) s \| (ok|\*\*failed\*\*) \|$/gm),
    ].map((m) => m[1]);
    expect(stepRows.slice(0, 4)).toEqual(["lock", "preflight", "pull", "backup"]);
    expect(stepRows).toEqual(
      expect.arrayContaining(["backup", "start", "route-back", "restore-release", "health"]),
    );
    expect(markdown).toMatch(/\| `start` \| [\d.]+ s \| \*\*failed\*\* \|/);
    expect(markdown).toContain("### Now on the server");
    expect(markdown).toMatch(/release: r\d{8}_\d{6}_[0-9a-f]{6}/);
    expect(markdown).toContain("lock: free");
    expect(secretLeaks(box, credentials, { "job summary": markdown })).toEqual([]);
    // A run that recorded nothing (it stopped before the lock) still gets a summary that says so.
    const none = renderOperationSummary({
      env: "staging",
      runUrl: "https://ci.example.invalid/runs/none",
      outcome: "failure",
      entries: entriesOfRun(jsonl, "https://ci.example.invalid/runs/none"),
      status: now,
    });
    expect(none).toContain(
      "No deploy or rollback of this run is recorded on staging (step outcome: failure)",
    );
  });

  it("rollback --to previous puts v1's release back, code only: the database untouched, no backup on its way", async () => {
    const before = await databaseFingerprint(box, "staging");
    const backupsBefore = backupsOf(box, "staging").length;
    const result = await outcome(rollback({ env, toPrevious: true }, credentials, caller()));
    if (!result.ok) throw result.error;
    expect(result.report.release).toBe(releaseV1);
    expect(result.report.summary).toMatch(
      /Rolled staging back to release r\S+ \(version v1-box\): healthy\. The database and uploads were not touched \(code only\), so no backup was needed\./,
    );
    expect(result.report.steps.map((s) => s.step)).not.toContain("backup");
    // Its dry-run plan is printed from the same step list (the record reads happen inside steps).
    const plan = await rollback({ env, toPrevious: true, dryRun: true }, credentials, caller());
    expect(plannedSteps(plan)).toEqual(ranSteps(result.report));
    expect(backupsOf(box, "staging").length).toBe(backupsBefore);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await shipmentExists(box, "staging", shipmentV1)).toBe(true);
  });

  it("rollback --backup restores the database, uploads and release of that backup", async () => {
    const later = await createShipment(box, "staging", "Written after the backup");
    const laterDoc = await uploadDocument(box, "staging", later, pngBytes("after-the-backup"));
    expect(await downloadDocument(box, "staging", later, laterDoc)).not.toBeNull();
    const result = await outcome(rollback({ env, backup: backupBeforeV2 }, credentials, caller()));
    if (!result.ok) throw result.error;
    const plan = await rollback(
      { env, backup: backupBeforeV2, dryRun: true },
      credentials,
      caller(),
    );
    expect(plannedSteps(plan, "when the backup is from before the first deploy")).toEqual(
      ranSteps(result.report),
    );
    expect(result.report.summary).toMatch(
      new RegExp(
        `with the database and uploads of ${backupBeforeV2.replace(/\./g, "\\.")}: healthy`,
      ),
    );
    // The backup was taken before v2: v1 serves, v2's migration and table are gone.
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await appliedMigrations(box, "staging")).not.toContain(box.v2Migration.name);
    expect(await tableNames(box, "staging")).not.toContain(box.v2Migration.table);
    expect(await shipmentExists(box, "staging", shipmentV1)).toBe(true);
    expect(await downloadDocument(box, "staging", shipmentV1, documentV1)).toEqual(documentBytes);
    expect(await shipmentExists(box, "staging", later)).toBe(false);
    expect(existsSync(join(env.appDir, "backend", "uploads"))).toBe(true);
  });

  it("refuses bad backup names and unknown backups with clear errors, changing nothing", async () => {
    const before = history(box, "staging").length;
    const backupsBefore = backupsOf(box, "staging");
    const traversal = await outcome(rollback({ env, backup: "../x" }, credentials, caller()));
    expect(!traversal.ok && traversal.error.message).toMatch(
      /Bad backup name "\.\.\/x": give only the file name \(no path parts\)/,
    );
    const other = await outcome(
      rollback({ env, backup: "backup_production_20260101_120000.tar.gz" }, credentials, caller()),
    );
    expect(!other.ok && other.error.message).toMatch(/belongs to production, not staging/);
    const missing = await outcome(
      rollback({ env, backup: "backup_staging_20000101_000000.tar.gz" }, credentials, caller()),
    );
    expect(!missing.ok && missing.error.message).toMatch(
      /Backup backup_staging_20000101_000000\.tar\.gz does not exist.*Nothing was changed/s,
    );
    expect(history(box, "staging")).toHaveLength(before);
    expect(backupsOf(box, "staging")).toEqual(backupsBefore);
    expect(existsSync(stateFile(box, "staging", "lock"))).toBe(false);
    expect((await servedHealth(box, "staging")).version).toBe("v1-box");
  });

  it("a migration that changes the schema and then fails: database restored, v1 keeps serving", async () => {
    const before = await databaseFingerprint(box, "staging");
    expect(await tableNames(box, "staging")).not.toContain(box.v2Migration.table);
    // With the rehearsal off (or a failure a copy of the data cannot show): the live
    // migration's failure is undone by restoring the backup.
    const { env: failing } = await boxEnvironment(box, "staging", {
      rehearseMigrations: false,
      migrateCommand: [
        "sh",
        "-c",
        // Applies v2's migration, then fails as Prisma reports a failed migration: several
        // lines with blank ones between them, on stderr.
        "node scripts/apply-migrations.mjs && printf '%s\\n' 'Error: P3018' '' 'A migration failed to apply.' '' 'Migration name: 20990101000000_simulated' '' 'Database error code: 1064' '' 'Database error:' 'You have an error in your SQL syntax near SIMULATED' >&2 && exit 3",
      ],
    });
    const result = await outcome(
      deploy({ env: failing, releaseFiles, ...images("v2") }, credentials, caller()),
    );
    expect(result.ok).toBe(false);
    if (result.ok) return;
    // The migration's own error, quoted in the message, the report and the Slack message.
    const quoted =
      /step migrate failed \(exit 3\): Error: P3018\nA migration failed to apply\.\nMigration name: 20990101000000_simulated\nDatabase error code: 1064\nDatabase error:\nYou have an error in your SQL syntax near SIMULATED/;
    expect(result.error.message).toMatch(/failed at step migrate: /);
    expect(result.error.message).toMatch(quoted);
    expect(result.report!.summary).toMatch(quoted);
    expect(slack.messages.at(-1)).toMatch(quoted);
    expect(result.error.message).toMatch(
      /serves again and is healthy; the database was restored from backup_staging_/,
    );
    // The migration did change the database before the step failed.
    expect(result.report!.log.join("\n")).toContain(`applied ${box.v2Migration.name}`);
    expect(await tableNames(box, "staging")).not.toContain(box.v2Migration.table);
    expect(await databaseFingerprint(box, "staging")).toEqual(before);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(history(box, "staging").at(-1)).toMatchObject({
      result: "rolled-back",
      failedStep: "migrate",
    });
  });

  it("backups, releases and status describe the server", async () => {
    const backups = await outcome(listBackups(env, credentials, caller()));
    if (!backups.ok) throw backups.error;
    expect(backups.report.summary.split("\n").map((l) => l.split(" ")[0])).toEqual(
      [...backupsOf(box, "staging")].reverse(),
    );
    const releases = await outcome(listReleases(env, credentials, caller()));
    if (!releases.ok) throw releases.error;
    expect(releases.report.summary).toMatch(/deploy success .*version=v1-box/);
    expect(releases.report.summary).toMatch(
      /deploy rolled-back .*version=v3-box .*failed_step=start/,
    );
    expect(releases.report.summary).toMatch(/rollback success/);
    // Docker reports a just-recreated container as "starting" until its first health check
    // (compose interval 5 s): ask again until status shows it healthy, as an operator would.
    const backendHealthy = /- backend (blue|green) \S+@sha256:[0-9a-f]{64} running \(healthy\)/;
    let summary = "";
    for (let attempt = 0; attempt < 20 && !backendHealthy.test(summary); attempt++) {
      if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, 1_500));
      const state = await outcome(status(env, credentials, caller()));
      if (!state.ok) throw state.error;
      summary = state.report.summary;
    }
    expect(summary).toMatch(/health: http:\/\/127\.0\.0\.1:\d+\/health ok .*"version":"v1-box"/);
    expect(summary).toMatch(/lock: free/);
    expect(summary).toMatch(backendHealthy);
    expect(summary).toMatch(/^edge: serving the (blue|green) containers$/m);
  });
});

describe("promotion", () => {
  it("--promote-from staging deploys exactly the digests staging runs to production", async () => {
    await resetEnvironment(box, "production");
    const production = await boxEnvironment(box, "production");
    const staging = history(box, "staging")
      .filter((e) => e.result === "success")
      .at(-1)!;
    const result = await outcome(
      deploy(
        {
          env: production.env,
          releaseFiles: production.releaseFiles,
          promoteFrom: env,
          approved: true,
        },
        credentials,
        caller(),
      ),
    );
    if (!result.ok) throw result.error;
    const promoted = history(box, "production").at(-1)!;
    expect(promoted).toMatchObject({
      result: "success",
      backendImage: staging.backendImage,
      frontendImage: staging.frontendImage,
    });
    expect(await servedThroughFrontend(box, "production")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    // The production app dir has a space in its path: the release files are where compose reads them.
    expect(env.appDir).not.toContain(" ");
    expect(production.env.appDir.endsWith("NEW START")).toBe(true);
    expect(existsSync(join(production.env.appDir, "release.env"))).toBe(true);
  });
});

describe("secrets", () => {
  it("no secret bytes in this file's operation logs, errors, Slack messages or any server log", () => {
    recordLog(lines);
    // The pull logged in with the password on stdin and logged out after it: the server's
    // Docker config keeps no token for the registry.
    expect(lines.join("\n")).toMatch(
      /==> \[pull\] pull the backend and frontend images \(docker login to /,
    );
    expect(lines.join("\n")).toContain("logged out of ");
    const registry = commands.registryOf(box.images.v1.backend);
    const configFile = join(box.dockerConfigDir, "config.json");
    const config = existsSync(configFile)
      ? (JSON.parse(readFileSync(configFile, "utf8")) as { auths?: Record<string, unknown> })
      : {};
    expect(config.auths?.[registry]).toBeUndefined();
    expect(
      secretLeaks(box, credentials, {
        "operation logs": lines.join("\n"),
        "slack messages": slack.messages.join("\n"),
      }),
    ).toEqual([]);
  });
});

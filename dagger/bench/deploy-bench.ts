// Deploy benchmark on the VPS-in-a-box (a script, not a test):
//   cd dagger && npx tsx bench/deploy-bench.ts [--db-mb 50] [--rounds 5] [--uploads 10000]
// Uses the running box (npm run vps:up) or brings one up and down itself. Everything below is
// measured in one run, side by side, through the deploy core over SSH as the Dagger functions
// run it, with a request loop (20/s, a fresh connection each, 1 s timeout) through every
// operation of A, B and C and through their plain counterparts alike (failed requests and the
// longest gap are printed beside the times):
//   A. nothing pending: deploy v1 over v2, then `rollback --to previous` (code only), with the
//      time until the previous version answers;
//   B. one pending migration: `rollback --backup` to the state before it, then deploy v2 (the
//      restore proof and the rehearsal on the copy), beside a plain restore of the same dump
//      into a fresh container;
//   C. the backup beside a plain `mysqldump | gzip` of the same database;
//   D. with N uploads: the backup's extra time beside a plain `tar czf` of them.
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { get } from "node:http";
import { join } from "node:path";
import { quote } from "zx";
import { bringUp, runningBox, tearDown } from "../test/vps/lifecycle.js";
import { dbQuery } from "../test/vps/helpers.js";
import { deploy, rollback, type OperationReport } from "../src/deploy/index.js";
import { boxEnvironment, boxExecutor, resetEnvironment } from "../test/deploy/support.js";
import { describeTraffic, trafficDuring, type TrafficReport } from "../test/deploy/traffic.js";

/**
 * The version /health reports, on a fresh connection each time (a kept-alive one would stay
 * with the containers it was opened to, as a browser's does, until they stop).
 */
function versionOn(port: number): Promise<string> {
  return new Promise((resolve) => {
    const request = get({ host: "127.0.0.1", port, path: "/health", agent: false, timeout: 1000 }, (response) => {
      let body = "";
      response.on("data", (chunk: Buffer) => (body += chunk.toString()));
      response.on("end", () => {
        try {
          resolve(String((JSON.parse(body) as { version?: string }).version ?? ""));
        } catch {
          resolve("");
        }
      });
    });
    request.on("timeout", () => request.destroy());
    request.on("error", () => resolve(""));
  }); // prettier-ignore
}

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

const dbMb = option("db-mb", 50);
const rounds = option("rounds", 5);
const uploads = option("uploads", 10_000);
const s = (ms: number) => (ms / 1000).toFixed(1);
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
const stepTime = (report: OperationReport, step: string) =>
  report.steps.filter((x) => x.step === step).reduce((sum, x) => sum + x.durationMs, 0);
/** "median s [each, …]" of a list of milliseconds. */
const figures = (ms: number[]) => `${s(median(ms))} s [${ms.map(s).join(", ")}]`;
const ratio = (a: number, b: number) => (b > 0 ? (a / b).toFixed(2) : "?");

const started = runningBox();
const box = started ?? (await bringUp());
try {
  const { env, releaseFiles } = await boxEnvironment(box, "staging");
  const credentials = { privateKey: readFileSync(box.privateKeyPath, "utf8") };
  const caller = { holder: "bench" };
  const images = (r: "v1" | "v2") => ({
    backendImage: box.images[r].backend,
    frontendImage: box.images[r].frontend,
  });
  const project = box.projects.staging;
  const { frontend, backend } = box.ports.staging;

  /** Plain commands on the server, over the same kind of SSH connection, timed. */
  const executor = await boxExecutor(box);
  const plain = async (what: string, lines: string[]) => {
    const result = await executor.run({
      step: "plain",
      description: what,
      timeoutMs: 30 * 60_000,
      script: ["set -euo pipefail", ...lines].join("\n"),
    });
    if (result.exitCode !== 0) throw new Error(`${what}: ${result.stderr}`);
    return { ms: executor.steps.at(-1)!.durationMs, stdout: result.stdout.trim() };
  };
  const db = `db=$(docker ps -q --filter ${quote(`label=com.docker.compose.project=${project}`)} --filter label=com.docker.compose.service=db)`;
  const plainDump = (target: string, gzip = "gzip") => [
    db,
    `docker exec "$db" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqldump -uroot --single-transaction "$MYSQL_DATABASE"' | ${gzip} > ${quote(target)}`,
    `wc -c < ${quote(target)}`,
  ];

  await resetEnvironment(box, "staging");
  const first = await deploy({ env, releaseFiles, ...images("v1") }, credentials, caller);
  console.log(
    `first deploy (empty server): ${s(first.durationMs)} s, ${first.roundTrips} round trips`,
  );

  // About dbMb MB of random row data (gzip cannot flatter it): 1 MB per batch of 256 rows.
  await dbQuery(box, project, "CREATE TABLE bench_payload (id INT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB;"); // prettier-ignore
  for (let i = 0; i < Math.ceil(dbMb); i += 1)
    await dbQuery(box, project, "INSERT INTO bench_payload (payload) SELECT CONCAT(HEX(RANDOM_BYTES(1024)), HEX(RANDOM_BYTES(1024))) FROM seq_1_to_256;"); // prettier-ignore
  await dbQuery(box, project, "ANALYZE TABLE bench_payload;");
  const [[sizeMb, payloadMb]] = (await dbQuery(box, project, "SELECT (SELECT ROUND(SUM(data_length + index_length) / 1048576, 1) FROM information_schema.tables WHERE table_schema = DATABASE()), (SELECT ROUND(SUM(LENGTH(payload)) / 1048576, 1) FROM bench_payload);")) as [[string, string]]; // prettier-ignore

  const body = JSON.stringify({ customerName: "bench", origin: "A", destination: "B", weightKg: 1 }); // prettier-ignore
  const targets = [
    { name: "GET /health", port: frontend, path: "/health" },
    { name: "GET /", port: frontend, path: "/" },
    { name: "POST /api/shipments", port: frontend, path: "/api/shipments", method: "POST" as const, body, expect: 201 },
    { name: "backend GET /health", port: backend, path: "/health" },
  ]; // prettier-ignore
  /** Runs an operation under the request loop; also times when `version` first answers. */
  const measured = async (run: () => Promise<OperationReport>, into: TrafficReport[], version?: string) => {
    const t0 = Date.now();
    let servedAt = 0;
    const operation = run();
    const poll = (async () => {
      while (version && !servedAt) {
        if ((await versionOn(backend)) === version) servedAt = Date.now() - t0;
        else await new Promise((resolve) => setTimeout(resolve, 50));
      }
    })();
    const { result, traffic } = await trafficDuring(operation, targets);
    await poll;
    into.push(traffic);
    return { report: result, servedMs: servedAt };
  }; // prettier-ignore

  /** A plain command under the same request loop as the operation it is compared with. */
  const plainUnderLoad = async (what: string, lines: string[]) =>
    (await trafficDuring(plain(what, lines), targets)).result;

  // The migration v2 ships is applied once; its backup holds the state before it.
  const migrated = await deploy({ env, releaseFiles, ...images("v2") }, credentials, caller);
  let beforeMigration = migrated.backup!;

  const traffic = { deploy: [] as TrafficReport[], previous: [] as TrafficReport[], pending: [] as TrafficReport[], backup: [] as TrafficReport[] }; // prettier-ignore
  const quiet: OperationReport[] = [];
  const previous: { report: OperationReport; servedMs: number }[] = [];
  const pending: OperationReport[] = [];
  const restores: OperationReport[] = [];
  const plainDumps: number[] = [];
  const plainFastDumps: number[] = [];
  let plainFastBytes = "";
  const plainRestores: number[] = [];
  let plainBytes = "";
  for (let round = 0; round < rounds; round += 1) {
    // A: nothing pending (v1 ships a subset of v2's migrations).
    quiet.push((await measured(() => deploy({ env, releaseFiles, ...images("v1") }, credentials, caller), traffic.deploy)).report); // prettier-ignore
    previous.push(await measured(() => rollback({ env, toPrevious: true }, credentials, caller), traffic.previous, "v2-box")); // prettier-ignore
    // C: the plain dump of the same database, between the deploys that back it up, under the
    // same request loop as they run (the app's load slows both alike).
    const dump = await plainUnderLoad(
      "mysqldump | gzip",
      plainDump(`${box.backupsDir}/.bench-plain.sql.gz`),
    );
    plainDumps.push(dump.ms);
    plainBytes = dump.stdout;
    // The same at the backup's compression level, for its own overhead.
    const fast = await plainUnderLoad("mysqldump | gzip -1", [...plainDump(`${box.backupsDir}/.bench-fast.sql.gz`, "gzip -1"), `rm -f ${quote(`${box.backupsDir}/.bench-fast.sql.gz`)}`]); // prettier-ignore
    plainFastDumps.push(fast.ms);
    plainFastBytes = fast.stdout.split("\n").at(-1) ?? "";
    // B: a plain restore of that dump into a fresh container of the same image, no checks
    // (under the request loop, as the deploy it is compared with).
    plainRestores.push((await plainUnderLoad("restore into a fresh container", [
      db,
      `image=$(docker inspect --format '{{.Image}}' "$db")`,
      `docker rm -f qgo-bench-restore >/dev/null 2>&1 || true`,
      `docker run -d --name qgo-bench-restore --network none -e MYSQL_ROOT_PASSWORD=bench -e MYSQL_DATABASE=qgo "$image" >/dev/null`,
      `until docker exec qgo-bench-restore mysqladmin ping -h 127.0.0.1 -uroot -pbench --silent >/dev/null 2>&1; do sleep 1; done`,
      `gzip -dc ${quote(`${box.backupsDir}/.bench-plain.sql.gz`)} | docker exec -i qgo-bench-restore mysql -uroot -pbench qgo`,
      `docker rm -f qgo-bench-restore >/dev/null`,
      `rm -f ${quote(`${box.backupsDir}/.bench-plain.sql.gz`)}`,
    ])).ms); // prettier-ignore
    // B: back to the state before the migration, then deploy it again (rehearsed).
    restores.push((await measured(() => rollback({ env, backup: beforeMigration }, credentials, caller), traffic.backup)).report); // prettier-ignore
    const again = (await measured(() => deploy({ env, releaseFiles, ...images("v2") }, credentials, caller), traffic.pending)).report; // prettier-ignore
    pending.push(again);
    beforeMigration = again.backup!;
  }

  // D: N uploads (1-40 KB of random bytes each), then deploys that back them up.
  const uploadsDir = join(box.stagingAppDir, "backend", "uploads", "bench");
  mkdirSync(uploadsDir, { recursive: true });
  for (let i = 0; i < uploads; i += 1)
    writeFileSync(join(uploadsDir, `upload ${i}.png`), randomBytes(1024 + ((i * 7919) % 40_000)));
  const withUploads: OperationReport[] = [];
  const plainTars: number[] = [];
  let plainTarBytes = "";
  for (let round = 0; round < rounds; round += 1) {
    withUploads.push(await deploy({ env, releaseFiles, ...images(round % 2 ? "v2" : "v1") }, credentials, caller)); // prettier-ignore
    const tar = await plain("tar czf of the uploads", [
      `tar -C ${quote(join(box.stagingAppDir, "backend"))} -czf ${quote(`${box.backupsDir}/.bench-uploads.tgz`)} uploads`,
      `wc -c < ${quote(`${box.backupsDir}/.bench-uploads.tgz`)}`,
      `rm -f ${quote(`${box.backupsDir}/.bench-uploads.tgz`)}`,
    ]); // prettier-ignore
    plainTars.push(tar.ms);
    plainTarBytes = tar.stdout;
  }
  executor.close();

  const backupOf = (reports: OperationReport[]) => reports.map((r) => stepTime(r, "backup"));
  const quietBackup = median(backupOf(quiet));
  const extra = backupOf(withUploads).map((ms) => ms - quietBackup);
  const steps = (reports: OperationReport[]) =>
    [...new Set(reports.flatMap((r) => r.steps.map((x) => x.step)))]
      .map((step) => `${step} ${s(median(reports.map((r) => stepTime(r, step))))}`)
      .join(", ");
  /** The backup's own phases (its backup_phases_ms line), median ms each. */
  const phases = (reports: OperationReport[]) => {
    const each = reports.map((r) => {
      const line = r.log.find((l) => l.includes("backup_phases_ms=")) ?? "";
      return new Map([...line.matchAll(/(\w+):(\d+)/g)].map((m) => [m[1] ?? "", Number(m[2])]));
    });
    return ["dump", "files", "verify"].map((k) => `${k} ${s(median(each.map((e) => e.get(k) ?? 0)))}`).join(", ");
  }; // prettier-ignore
  // What the proof adds to the deploy: it runs beside the upload.
  const proofAndRehearsal = pending.map(
    (r) => Math.max(0, stepTime(r, "restore-proof") - stepTime(r, "upload")) + stepTime(r, "rehearsal"),
  ); // prettier-ignore
  const lines = [
    `VPS-in-a-box, staging, ${rounds} rounds, database ${sizeMb} MB on disk (${payloadMb} MB of row data), ${uploads} uploads in D`,
    `(A, B and C run under the request loop, their plain counterparts too; D and its plain tar czf without it)`,
    `A. deploy, nothing pending (median): ${figures(quiet.map((r) => r.durationMs))}; round trips ${quiet.map((r) => r.roundTrips).join(", ")}`,
    `   steps (median s): ${steps(quiet)}`,
    `   requests: ${traffic.deploy.map(describeTraffic).join(" | ")}`,
    `A. rollback --to previous until v2 answers: ${figures(previous.map((p) => p.servedMs))}; whole operation ${figures(previous.map((p) => p.report.durationMs))}; round trips ${previous.map((p) => p.report.roundTrips).join(", ")}`,
    `   steps (median s): ${steps(previous.map((p) => p.report))}`,
    `   requests: ${traffic.previous.map(describeTraffic).join(" | ")}`,
    `B. deploy, one migration pending (median): ${figures(pending.map((r) => r.durationMs))}; round trips ${pending.map((r) => r.roundTrips).join(", ")}`,
    `   steps (median s): ${steps(pending)}`,
    `   restore proof beyond the upload beside it + rehearsal: ${figures(proofAndRehearsal)}; plain restore into a fresh container: ${figures(plainRestores)}; ratio ${ratio(median(proofAndRehearsal), median(plainRestores))}`,
    `   requests: ${traffic.pending.map(describeTraffic).join(" | ")}`,
    `B. rollback --backup (the app stops while the database is restored): ${figures(restores.map((r) => r.durationMs))}`,
    `   requests: ${traffic.backup.map(describeTraffic).join(" | ")}`,
    `C. verified backup step (nothing pending): ${figures(backupOf(quiet))}; plain mysqldump | gzip: ${figures(plainDumps)} (${plainBytes} bytes); ratio ${ratio(quietBackup, median(plainDumps))}`,
    `   plain mysqldump | gzip -1 (the backup's level): ${figures(plainFastDumps)} (${plainFastBytes} bytes); ratio ${ratio(quietBackup, median(plainFastDumps))}`,
    `   backup phases (median s): ${phases(quiet)}; writes paused (ms): ${quiet.map((r) => /writes_paused_ms=(\d+)/.exec(r.log.join("\n"))?.[1] ?? "?").join(", ")}`,
    `D. backup with ${uploads} uploads: ${figures(backupOf(withUploads))}; extra over C ${figures(extra)}; plain tar czf of them: ${figures(plainTars)} (${plainTarBytes} bytes); ratio ${ratio(median(extra), median(plainTars))}`,
    `   backup phases (median s): ${phases(withUploads)}; archive ${withUploads.map((r) => /archive_bytes=(\d+)/.exec(r.log.join("\n"))?.[1] ?? "?").join(", ")} bytes`,
  ];
  console.log(`\n${lines.join("\n")}`);
} finally {
  if (!started) await tearDown(box.stateDir, box.cacheDir);
}

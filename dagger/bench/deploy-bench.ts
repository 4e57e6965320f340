// Deploy benchmark on the VPS-in-a-box (a script, not a test):
//   cd dagger && npx tsx bench/deploy-bench.ts [--db-mb 50] [--rounds 3]
// Uses the running box (npm run vps:up) or brings one up and down itself. Each round deploys
// v2 (one pending migration: rehearsed on the restored copy), goes back to the release before
// it (`rollback --to previous`: code only), then restores the backup taken before the deploy
// (`rollback --backup`: the migration is pending again). A request loop (20/s, a fresh
// connection each, 1 s timeout) runs through every operation: failed requests and the longest
// gap are printed beside the times. Prints wall times,
// SSH round trips, step times, the restore proof and the rehearsal on their own (and what they
// add beside the pull they run with), and the verified backup against a plain
// `mysqldump | gzip` of the same database on the same server.
import { readFileSync } from "node:fs";
import { bringUp, runningBox, tearDown } from "../test/vps/lifecycle.js";
import { dbQuery } from "../test/vps/helpers.js";
import { deploy, rollback, type OperationReport } from "../src/deploy/index.js";
import { SshExecutor } from "../src/deploy/executor.js";
import { Redactor } from "../src/deploy/redact.js";
import { quote } from "zx";
import { boxEnvironment, resetEnvironment } from "../test/deploy/support.js";
import { describeTraffic, trafficDuring, type TrafficReport } from "../test/deploy/traffic.js";

function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  const value = at >= 0 ? Number(process.argv[at + 1]) : fallback;
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} needs a positive number`);
  return value;
}

const dbMb = option("db-mb", 50);
const rounds = option("rounds", 3);
const seconds = (ms: number) => (ms / 1000).toFixed(1);
const stepTime = (report: OperationReport, step: string) =>
  report.steps.filter((s) => s.step === step).reduce((sum, s) => sum + s.durationMs, 0);

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

  await resetEnvironment(box, "staging");
  const first = await deploy({ env, releaseFiles, ...images("v1") }, credentials, caller);
  console.log(
    `first deploy (empty server, database initialised): ${seconds(first.durationMs)} s, ${first.roundTrips} round trips`,
  );

  // Fill the database to about dbMb MB of row data (random, so gzip cannot cheat).
  const project = box.projects.staging;
  await dbQuery(
    box,
    project,
    "CREATE TABLE bench_payload (id INT AUTO_INCREMENT PRIMARY KEY, payload TEXT NOT NULL) ENGINE=InnoDB;",
  );
  const batches = Math.ceil(dbMb);
  for (let i = 0; i < batches; i += 1) {
    // 1 MB per batch: 256 rows of 4 KB of hex (MariaDB's sequence engine gives the rows).
    await dbQuery(
      box,
      project,
      "INSERT INTO bench_payload (payload) SELECT CONCAT(HEX(RANDOM_BYTES(1024)), HEX(RANDOM_BYTES(1024))) FROM seq_1_to_256;",
    );
  }
  // InnoDB's size statistics lag behind the inserts: refresh them before reading.
  await dbQuery(box, project, "ANALYZE TABLE bench_payload;");
  const [[sizeMb, payloadMb]] = (await dbQuery(
    box,
    project,
    "SELECT (SELECT ROUND(SUM(data_length + index_length) / 1048576, 1) FROM information_schema.tables WHERE table_schema = DATABASE()), " +
      "(SELECT ROUND(SUM(LENGTH(payload)) / 1048576, 1) FROM bench_payload);",
  )) as [[string, string]];
  console.log(
    `database: ${sizeMb} MB on disk (InnoDB data + indexes), ${payloadMb} MB of row data`,
  );

  const { frontend, backend } = box.ports.staging;
  const body = JSON.stringify({
    customerName: "bench",
    origin: "A",
    destination: "B",
    weightKg: 1,
  });
  const targets = [
    { name: "GET /health", port: frontend, path: "/health" },
    { name: "GET /", port: frontend, path: "/" },
    { name: "POST /api/shipments", port: frontend, path: "/api/shipments", method: "POST" as const, body, expect: 201 },
    { name: "backend GET /health", port: backend, path: "/health" },
  ]; // prettier-ignore
  const measured = async (operation: Promise<OperationReport>, into: TrafficReport[]) => {
    const { result, traffic } = await trafficDuring(operation, targets);
    into.push(traffic);
    return result;
  };
  const deploys: OperationReport[] = [];
  const toPrevious: OperationReport[] = [];
  const rollbacks: OperationReport[] = [];
  const traffic = {
    deploy: [] as TrafficReport[],
    previous: [] as TrafficReport[],
    backup: [] as TrafficReport[],
  };
  for (let round = 0; round < rounds; round += 1) {
    const deployed = await measured(deploy({ env, releaseFiles, ...images("v2") }, credentials, caller), traffic.deploy);
    deploys.push(deployed);
    toPrevious.push(await measured(rollback({ env, toPrevious: true }, credentials, caller), traffic.previous));
    rollbacks.push(await measured(rollback({ env, backup: deployed.backup! }, credentials, caller), traffic.backup));
  } // prettier-ignore

  // Plain mysqldump | gzip of the same database, on the same server, over the same kind of connection.
  const executor = await SshExecutor.connect(
    {
      host: box.sshHost,
      port: box.sshPort,
      username: box.sshUser,
      privateKey: credentials.privateKey,
      knownHosts: box.knownHostsLine,
    },
    { log: () => undefined, redactor: new Redactor() },
  );
  const plainTimes: number[] = [];
  let plainBytes = "";
  try {
    for (let i = 0; i < rounds; i += 1) {
      const target = `${box.backupsDir}/.bench-plain.sql.gz`;
      const result = await executor.run({
        step: "plain-dump",
        description: "mysqldump | gzip",
        timeoutMs: 30 * 60_000,
        script: [
          "set -euo pipefail",
          `db=$(docker ps -q --filter ${quote(`label=com.docker.compose.project=${project}`)} --filter label=com.docker.compose.service=db)`,
          `docker exec "$db" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqldump -uroot --single-transaction "$MYSQL_DATABASE"' | gzip > ${quote(target)}`,
          `wc -c < ${quote(target)}`,
          `rm -f ${quote(target)}`,
        ].join("\n"),
      });
      plainTimes.push(executor.steps.at(-1)!.durationMs);
      plainBytes = result.stdout.trim();
    }
  } finally {
    executor.close();
  }

  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? 0;
  const backupTimes = [...deploys, ...rollbacks].map((r) => stepTime(r, "backup"));
  const archiveBytes = deploys
    .flatMap((r) => r.log)
    .filter((l) => l.includes("archive_bytes="))
    .map((l) => l.split("archive_bytes=")[1])
    .at(-1);
  const logValue = (reports: OperationReport[], key: string) =>
    reports
      .flatMap((r) => r.log)
      .filter((l) => l.includes(`${key}=`))
      .map((l) => Number(/=(\d+)/.exec(l.slice(l.indexOf(`${key}=`)))?.[1]));
  const each = (reports: OperationReport[], step: string) =>
    reports.map((r) => seconds(stepTime(r, step))).join(", ");
  // The proof runs beside the pull: what it adds to the deploy is how much longer it takes.
  const added = deploys.map((r) => Math.max(0, stepTime(r, "restore-proof") - stepTime(r, "pull")));
  const lines = [
    `VPS-in-a-box, staging, ${rounds} rounds, database ${sizeMb} MB on disk (${payloadMb} MB of row data)`,
    `deploy of v2 (1 pending migration, rehearsed) wall time (median): ${seconds(median(deploys.map((r) => r.durationMs)))} s  [${deploys.map((r) => seconds(r.durationMs)).join(", ")}]`,
    `rollback --backup (restore + checksums checked) wall time (median): ${seconds(median(rollbacks.map((r) => r.durationMs)))} s  [${rollbacks.map((r) => seconds(r.durationMs)).join(", ")}]`,
    `SSH round trips per deploy: ${deploys.map((r) => r.roundTrips).join(", ")} (one connection each)`,
    `deploy steps (median s): ${[
      "lock",
      "preflight",
      "backup",
      "upload",
      "pull",
      "restore-proof",
      "rehearsal",
      "retention",
      "migrate",
      "switch",
      "start",
      "route",
      "health",
      "retire",
      "record",
      "unlock",
    ]
      .map((step) => `${step} ${seconds(median(deploys.map((r) => stepTime(r, step))))}`)
      .join(", ")}`,
    `restore proof (copy started, dump loaded, checksums compared): median ${seconds(median(deploys.map((r) => stepTime(r, "restore-proof"))))} s [${each(deploys, "restore-proof")}]; copy start ${logValue(deploys, "copy_start_s").join(", ")} s, load ${logValue(deploys, "copy_load_s").join(", ")} s`,
    `  beside the pull (median ${seconds(median(deploys.map((r) => stepTime(r, "pull"))))} s): adds ${seconds(median(added))} s to the deploy (median)`,
    `migration rehearsal on the copy: median ${seconds(median(deploys.map((r) => stepTime(r, "rehearsal"))))} s [${each(deploys, "rehearsal")}]; live migrate median ${seconds(median(deploys.map((r) => stepTime(r, "migrate"))))} s`,
    `writes paused for the consistent checksums: ${logValue(deploys, "writes_paused_ms").join(", ")} ms`,
    `rollback restore-db (load + checksums): median ${seconds(median(rollbacks.map((r) => stepTime(r, "restore-db"))))} s [${each(rollbacks, "restore-db")}]`,
    `verified backup (dump + checksums + config + uploads + logs, tar.gz, verified) median: ${seconds(median(backupTimes))} s, archive ${archiveBytes ?? "?"} bytes`,
    `plain mysqldump | gzip of the same database, median: ${seconds(median(plainTimes))} s, ${plainBytes} bytes`,
    `rollback --to previous (code only) wall time (median): ${seconds(median(toPrevious.map((r) => r.durationMs)))} s  [${toPrevious.map((r) => seconds(r.durationMs)).join(", ")}]`,
    `requests during deploy v2: ${traffic.deploy.map(describeTraffic).join(" | ")}`,
    `requests during rollback --to previous: ${traffic.previous.map(describeTraffic).join(" | ")}`,
    `requests during rollback --backup (the app stops while the database is restored): ${traffic.backup.map(describeTraffic).join(" | ")}`,
  ];
  console.log(`\n${lines.join("\n")}`);
} finally {
  if (!started) await tearDown(box.stateDir, box.cacheDir);
}

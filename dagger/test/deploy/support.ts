// Shared pieces of the deploy tests on the VPS-in-a-box: settings for an environment of
// the box, credentials, a Slack stand-in on loopback, database fingerprints, a reset of an
// environment, and a registry of every log line the suite produced (for the secrets scan).
import { createServer, get, type Server } from "node:http";
import { existsSync, readdirSync, readFileSync, rmSync, mkdirSync, appendFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { randomBytes } from "node:crypto";
import type { ReleaseName, VpsBox } from "../vps/box.js";
import { appDir, boxDocker, dbQuery, httpRequest } from "../vps/helpers.js";
import { loadRepoFiles } from "../../src/deploy/repo-files.js";
import type { EnvironmentOverrides, EnvironmentSettings } from "../../src/deploy/environments.js";
import type { Credentials, Caller, OperationReport } from "../../src/deploy/index.js";
import { DeployError } from "../../src/deploy/index.js";
import { SshExecutor } from "../../src/deploy/executor.js";
import { Redactor } from "../../src/deploy/redact.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";

export type EnvName = "staging" | "production";
export const repoRoot = resolve(import.meta.dirname, "../../..");
/** The box's images have no Prisma schema engine: they migrate with the plain-Node applier. */
export const boxMigrateCommand = ["node", "scripts/apply-migrations.mjs"];

/** Every log line and error message of the suite, appended here for the final secrets scan. */
export const suiteLogFile = join(repoRoot, ".test-results", "deploy-vps-operations.log");

export function recordLog(lines: string[]): void {
  mkdirSync(join(repoRoot, ".test-results"), { recursive: true });
  appendFileSync(suiteLogFile, lines.join("\n") + "\n");
}

export function boxOverrides(
  box: VpsBox,
  env: EnvName,
  extra: EnvironmentOverrides = {},
): EnvironmentOverrides {
  const ports = box.ports[env];
  return {
    host: box.sshHost,
    sshPort: box.sshPort,
    sshUser: box.sshUser,
    appDir: appDir(box, env),
    backupsDir: box.backupsDir,
    knownHosts: [box.knownHostsLine],
    ports,
    migrateCommand: boxMigrateCommand,
    // Short but real retries: v3 must be declared unhealthy in seconds, not minutes.
    health: { attempts: 5, initialDelaySeconds: 1, maxDelaySeconds: 3, timeoutSeconds: 4 },
    // No public name points at the box: HTTPS only where a test brings its ACME server
    // (certificates.test.ts passes tls).
    tls: null,
    ...extra,
  };
}

export async function boxEnvironment(
  box: VpsBox,
  env: EnvName,
  extra: EnvironmentOverrides = {},
): Promise<{ env: EnvironmentSettings; releaseFiles: ReleaseFile[] }> {
  return loadRepoFiles(repoRoot, env, boxOverrides(box, env, extra));
}

/** The image refs of one of the box's releases, as a deploy request takes them. */
export function releaseImages(
  box: VpsBox,
  release: ReleaseName,
): { backendImage: string; frontendImage: string } {
  return { backendImage: box.images[release].backend, frontendImage: box.images[release].frontend };
}

/** Secrets of the suite: real key of the box, a registry password, a Slack webhook with a token. */
/** A plain connection to the box's server, as the operations open theirs (host key checked). */
export function boxExecutor(box: VpsBox): Promise<SshExecutor> {
  return SshExecutor.connect(
    {
      host: box.sshHost,
      port: box.sshPort,
      username: box.sshUser,
      privateKey: readFileSync(box.privateKeyPath, "utf8"),
      knownHosts: box.knownHostsLine,
    },
    { log: () => undefined, redactor: new Redactor() },
  );
}

export function boxCredentials(
  box: VpsBox,
  slackUrl?: string,
): Credentials & { registryPassword: string } {
  return {
    privateKey: readFileSync(box.privateKeyPath, "utf8"),
    registryPassword: `reg-${randomBytes(12).toString("hex")}`,
    registryUsername: "qgo-ci",
    ...(slackUrl ? { slackWebhook: slackUrl } : {}),
  };
}

export function testCaller(name: string, lines: string[]): Caller {
  return {
    holder: `vitest:${name}`,
    commit: "0123456789abcdef",
    runUrl: `https://ci.example.invalid/runs/${name}`,
    log: (line) => lines.push(line),
  };
}

/** Runs an operation, records its log for the secrets scan, and returns report or error. */
export async function outcome(
  run: Promise<OperationReport>,
): Promise<
  { ok: true; report: OperationReport } | { ok: false; error: Error; report?: OperationReport }
> {
  try {
    const report = await run;
    recordLog(report.log);
    return { ok: true, report };
  } catch (error) {
    const err = error as Error;
    if (error instanceof DeployError) recordLog([...error.report.log, err.message]);
    else recordLog([err.message]);
    return error instanceof DeployError
      ? { ok: false, error: err, report: error.report }
      : { ok: false, error: err };
  }
}

/** A Slack stand-in on loopback: the webhook path holds a secret token, like Slack's. */
export async function startSlack(): Promise<{ url: string; messages: string[]; server: Server }> {
  const messages: string[] = [];
  const token = randomBytes(16).toString("hex");
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      if (req.url === `/services/T0/B0/${token}`) {
        messages.push((JSON.parse(body) as { text: string }).text);
        res.writeHead(200).end("ok");
      } else {
        res.writeHead(404).end("no such hook");
      }
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as { port: number };
  return { url: `http://127.0.0.1:${port}/services/T0/B0/${token}`, messages, server };
}

/** Removes everything a deploy created for an environment; keeps the server's .env. */
export async function resetEnvironment(box: VpsBox, env: EnvName): Promise<void> {
  const docker = boxDocker(box);
  const project = box.projects[env];
  const ids = (
    await docker`docker ps -aq --filter ${`label=com.docker.compose.project=${project}`}`
  ).stdout.trim();
  if (ids) await docker`docker rm -f ${ids.split("\n")}`;
  const volumes = (
    await docker`docker volume ls -q --filter ${`label=com.docker.compose.project=${project}`}`
  ).stdout.trim();
  if (volumes) await docker`docker volume rm ${volumes.split("\n")}`;
  // Throwaway database copies of the restore proof and the rehearsal.
  const copyLabel = `label=qgo.copy=${project}`;
  const copies = (await docker`docker ps -aq --filter ${copyLabel}`).stdout.trim();
  if (copies) await docker`docker rm -f ${copies.split("\n")}`;
  const copyVolumes = (await docker`docker volume ls -q --filter ${copyLabel}`).stdout.trim();
  if (copyVolumes) await docker`docker volume rm ${copyVolumes.split("\n")}`;
  const dir = appDir(box, env);
  for (const name of readdirSync(dir)) {
    if (name === ".env" || name === "backend") continue;
    rmSync(join(dir, name), { recursive: true, force: true });
  }
  for (const sub of ["backend/uploads", "backend/logs"]) emptyDirectory(join(dir, sub));
  for (const name of readdirSync(box.backupsDir)) {
    if (name.startsWith(`backup_${env}_`)) rmSync(join(box.backupsDir, name), { force: true });
  }
}

/** Removes what a directory holds, whatever bytes the names are made of (the dir stays). */
export function emptyDirectory(dir: string): void {
  if (!existsSync(dir)) return;
  const path = Buffer.from(dir);
  for (const name of readdirSync(path, { encoding: "buffer" }))
    rmSync(Buffer.concat([path, Buffer.from("/"), name]), { recursive: true, force: true });
}

export function backupsOf(box: VpsBox, env: EnvName): string[] {
  return readdirSync(box.backupsDir)
    .filter((name) => name.startsWith(`backup_${env}_`) && name.endsWith(".tar.gz"))
    .sort();
}

export function stateFile(box: VpsBox, env: EnvName, name: string): string {
  return join(appDir(box, env), ".qgo-deploy", name);
}

export function history(box: VpsBox, env: EnvName): Record<string, unknown>[] {
  const file = stateFile(box, env, "history.jsonl");
  if (!existsSync(file)) return [];
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** What the backend serves: its /health JSON straight from the published port. */
export async function servedHealth(
  box: VpsBox,
  env: EnvName,
): Promise<{ status: string; version: string }> {
  const response = await httpRequest(`http://127.0.0.1:${box.ports[env].backend}/health`);
  return (await response.json()) as { status: string; version: string };
}

/** /health through the frontend's nginx, as users reach it. */
export async function servedThroughFrontend(
  box: VpsBox,
  env: EnvName,
): Promise<{ status: string; version: string }> {
  // A new connection, as a new visitor's: fetch would reuse a kept-alive one, which an edge
  // worker from before a switch may still carry to the containers it served then.
  const body = await new Promise<string>((resolvePromise, reject) => {
    const request = get(
      { host: "127.0.0.1", port: box.ports[env].frontend, path: "/health", agent: false },
      (response) => {
        let text = "";
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => (text += chunk));
        response.on("end", () => resolvePromise(text));
        response.on("error", reject);
      },
    );
    request.setTimeout(10_000, () => request.destroy(new Error("/health: no answer in 10 s")));
    request.on("error", reject);
  });
  return JSON.parse(body) as { status: string; version: string };
}

/** CHECKSUM TABLE of every table in the app database: equal fingerprints, equal content. */
export async function databaseFingerprint(
  box: VpsBox,
  env: EnvName,
): Promise<Record<string, string>> {
  const project = box.projects[env];
  const tables = (await dbQuery(box, project, "SHOW TABLES")).map((row) => row[0] ?? "");
  const fingerprint: Record<string, string> = {};
  if (tables.length === 0) return fingerprint;
  const rows = await dbQuery(
    box,
    project,
    `CHECKSUM TABLE ${tables.map((t) => `\`${t}\``).join(", ")} EXTENDED`,
  );
  for (const [table, checksum] of rows)
    fingerprint[String(table).split(".").pop() ?? ""] = checksum ?? "";
  return fingerprint;
}

export async function tableNames(box: VpsBox, env: EnvName): Promise<string[]> {
  return (await dbQuery(box, box.projects[env], "SHOW TABLES")).map((row) => row[0] ?? "").sort();
}

export async function appliedMigrations(box: VpsBox, env: EnvName): Promise<string[]> {
  return (
    await dbQuery(
      box,
      box.projects[env],
      "SELECT migration_name FROM _prisma_migrations ORDER BY migration_name",
    )
  ).map((row) => row[0] ?? "");
}

/** A shipment created through the product's API, through the frontend's nginx. */
export async function createShipment(
  box: VpsBox,
  env: EnvName,
  customerName: string,
): Promise<number> {
  const response = await httpRequest(`http://127.0.0.1:${box.ports[env].frontend}/api/shipments`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      customerName,
      origin: "Rotterdam",
      destination: "Gdansk",
      weightKg: 12.5,
    }),
  });
  if (response.status !== 201)
    throw new Error(`create shipment: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: number }).id;
}

/** A small but real PNG (signature + IHDR-sized payload) with a unique marker. */
export function pngBytes(marker: string): Buffer {
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    Buffer.from(`qgo-test ${marker} `.padEnd(64, ".")),
  ]);
}

/** Uploads a document for a shipment (stored in backend/uploads on the server). */
export async function uploadDocument(
  box: VpsBox,
  env: EnvName,
  shipmentId: number,
  bytes: Buffer,
): Promise<number> {
  const form = new FormData();
  form.append("file", new Blob([new Uint8Array(bytes)], { type: "image/png" }), "proof.png");
  const response = await httpRequest(
    `http://127.0.0.1:${box.ports[env].frontend}/api/shipments/${shipmentId}/documents`,
    {
      method: "POST",
      body: form,
    },
  );
  if (response.status !== 201)
    throw new Error(`upload document: HTTP ${response.status} ${await response.text()}`);
  return ((await response.json()) as { id: number }).id;
}

export async function shipmentExists(box: VpsBox, env: EnvName, id: number): Promise<boolean> {
  const response = await httpRequest(
    `http://127.0.0.1:${box.ports[env].frontend}/api/shipments/${id}`,
  );
  if (response.status !== 200 && response.status !== 404)
    throw new Error(`get shipment: HTTP ${response.status}`);
  return response.status === 200;
}

export async function downloadDocument(
  box: VpsBox,
  env: EnvName,
  shipmentId: number,
  documentId: number,
): Promise<Buffer | null> {
  const response = await httpRequest(
    `http://127.0.0.1:${box.ports[env].frontend}/api/shipments/${shipmentId}/documents/${documentId}/download`,
  );
  if (response.status === 404) return null;
  if (response.status !== 200) throw new Error(`download: HTTP ${response.status}`);
  return Buffer.from(await response.arrayBuffer());
}

/** The secret strings of a credentials set: registry password, webhook token, key lines. */
export function secretsOf(credentials: Credentials): string[] {
  return [
    ...(credentials.registryPassword ? [credentials.registryPassword] : []),
    ...(credentials.slackWebhook
      ? [credentials.slackWebhook, credentials.slackWebhook.split("/").at(-1)!]
      : []),
    ...credentials.privateKey
      .split("\n")
      .filter((line) => line.length > 8 && !line.startsWith("-----")),
  ];
}

/**
 * Every log of the suite that could carry a secret: the given texts (operation logs, errors,
 * Slack messages), the suite's log file, the servers' history and audit logs, and the box's
 * sshd, dockerd and registry logs. Returns "<log>: <which secret>" for each leak.
 */
export function secretLeaks(
  box: VpsBox,
  credentials: Credentials,
  texts: Record<string, string>,
): string[] {
  const logs: Record<string, string> = { ...texts };
  if (existsSync(suiteLogFile)) logs["suite log file"] = readFileSync(suiteLogFile, "utf8");
  for (const env of ["staging", "production"] as const) {
    for (const name of ["history.jsonl", "audit.log"]) {
      const file = stateFile(box, env, name);
      if (existsSync(file)) logs[`${env} ${name}`] = readFileSync(file, "utf8");
    }
  }
  for (const name of ["sshd.log", "dockerd.log", "registry.log"]) {
    const file = join(box.stateDir, name);
    if (existsSync(file)) logs[name] = readFileSync(file, "utf8");
  }
  const leaks: string[] = [];
  const secrets = secretsOf(credentials);
  for (const [name, text] of Object.entries(logs)) {
    secrets.forEach((secret, index) => {
      if (text.includes(secret)) leaks.push(`${name}: secret #${index}`);
    });
  }
  return leaks;
}

/**
 * SIGKILLs the server's processes of a deploy step (QGO_ENV and QGO_STEP in their environment,
 * as the executor starts them); returns how many it killed.
 */
export function killRemoteStep(env: string, step: string): number {
  let killed = 0;
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    let vars: string[];
    try {
      vars = readFileSync(`/proc/${pid}/environ`, "latin1").split("\0");
    } catch {
      continue; // ended meanwhile
    }
    if (!vars.includes(`QGO_ENV=${env}`) || !vars.includes(`QGO_STEP=${step}`)) continue;
    try {
      process.kill(Number(pid), "SIGKILL");
      killed += 1;
    } catch {
      // ended meanwhile
    }
  }
  return killed;
}

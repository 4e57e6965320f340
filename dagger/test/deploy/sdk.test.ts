// The deploy functions driven through the Dagger SDK's entrypoint (a fresh module process per
// call, as the engine runs it) against the stand-in engine, with the real VPS-in-a-box as the
// server, the way a person uses them on a laptop: a checkout whose environment files name the
// server (host, known_hosts, app dir), the committed .env.example as saved defaults (Dagger's
// local defaults, applied as engine v0.21.8 applies them: ../standin/local-defaults.ts), and only
// the README's flags on the command line. The SSH work, backups, migrations and health checks are real.
// What this does not prove: that the module loads inside the real engine's runtime container.
import { execFileSync } from "node:child_process";
import { lookup } from "node:dns/promises";
import {
  chownSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, httpRequest, vpsBox } from "../vps/helpers.js";
import { freeLoopbackPort } from "../vps/system.js";
import { REPO_ROOT, StandInEngine, type CallResult } from "../standin/engine.js";
import { scanModule, type ScannedModule } from "../standin/introspect.js";
import { withLocalDefaults } from "../standin/local-defaults.js";
import { answerRepositoryFiles } from "../module/fixture.js";
import { deploy } from "../../src/deploy/index.js";
import {
  boxCredentials,
  boxEnvironment,
  boxMigrateCommand,
  createShipment,
  history,
  outcome,
  recordLog,
  resetEnvironment,
  secretLeaks,
  servedThroughFrontend,
  shipmentExists,
  startSlack,
  testCaller,
} from "./support.js";

let box: VpsBox;
let engine: StandInEngine;
let scanned: ScannedModule;
let slack: Awaited<ReturnType<typeof startSlack>>;
let credentials: ReturnType<typeof boxCredentials>;
/** The laptop: a checkout (its deploy/ with the box's facts) and a home dir holding the key. */
let checkout: string;
let home: string;
/** A second name of the box's address: production's "server", so promotion crosses servers. */
let productionHost: string;
const outputs: string[] = [];
const savedDefaults = readFileSync(join(REPO_ROOT, ".env.example"), "utf8");

/** A host name other than 127.0.0.1 that resolves only to it (the box's sshd listens there). */
async function secondName(): Promise<string> {
  for (const name of ["localhost", "vm", "runsc"]) {
    const addresses = await lookup(name, { all: true }).catch(() => []);
    if (addresses.length > 0 && addresses.every((a) => a.address === "127.0.0.1")) return name;
  }
  throw new Error("no second host name resolves to 127.0.0.1 only (checked localhost, vm, runsc)");
}

/** Writes an environment file of the checkout: the repository's, with the box's facts. */
function writeEnvironment(name: string, settings: Record<string, unknown>): void {
  writeFileSync(
    join(checkout, "deploy/environments", `${name}.json`),
    `${JSON.stringify(settings, null, 2)}\n`,
  );
}

function boxFacts(env: "staging" | "production", host: string) {
  const file = JSON.parse(
    readFileSync(join(REPO_ROOT, "deploy/environments", `${env}.json`), "utf8"),
  ) as Record<string, unknown>;
  // The URLs follow the box's ports.
  delete file.healthUrls;
  // No public name points at the box (certificates.test.ts proves HTTPS against Pebble).
  delete file.tls;
  return {
    ...file,
    host,
    sshPort: box.sshPort,
    knownHosts: [box.knownHostsLine.replace("[127.0.0.1]", `[${host}]`)],
    appDir: env === "production" ? box.productionAppDir : box.stagingAppDir,
    backupsDir: box.backupsDir,
    ports: box.ports[env],
    migrateCommand: boxMigrateCommand,
    health: { attempts: 5, initialDelaySeconds: 1, maxDelaySeconds: 3, timeoutSeconds: 4 },
    // Where the box's "CI" pushed: qgo/backend:v2 and qgo/frontend:v2 in its registry.
    imageRepository: `${box.registry}/qgo`,
  };
}

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  engine = await StandInEngine.start();
  answerRepositoryFiles(engine);
  scanned = await scanModule();
  productionHost = await secondName();
  checkout = mkdtempSync(join(tmpdir(), "qgo-laptop-checkout-"));
  cpSync(join(REPO_ROOT, "deploy"), join(checkout, "deploy"), { recursive: true });
  writeEnvironment("staging", boxFacts("staging", box.sshHost));
  writeEnvironment("production", boxFacts("production", productionHost));
  home = mkdtempSync(join(tmpdir(), "qgo-laptop-home-"));
  mkdirSync(join(home, ".ssh"), { mode: 0o700 });
  writeFileSync(join(home, ".ssh", "qgo_deploy"), credentials.privateKey, { mode: 0o600 });
});

afterAll(async () => {
  slack?.server.close();
  await engine?.stop();
  for (const dir of [checkout, home]) if (dir) rmSync(dir, { recursive: true, force: true });
});

/**
 * `dagger call [chain] <fn> <flags>` on the laptop: each call's omitted arguments come from the
 * saved defaults; Qgo is constructed with the checkout as its contextual source.
 */
async function daggerCall(
  fn: string,
  flags: Record<string, unknown>,
  on?: { object: string; state: Record<string, unknown> },
): Promise<CallResult> {
  const host = { ...process.env, HOME: home };
  const object = on?.object ?? "Qgo";
  const args = withLocalDefaults(engine, scanned, savedDefaults, object, fn, flags, host);
  // The CLI refuses a call that lacks a required argument before anything runs.
  const missing = Object.values(scanned.objects[object]!.methods[fn]!.arguments).filter(
    (a) => !a.isOptional && a.defaultValue === undefined && !(a.name in args),
  );
  if (missing.length > 0)
    throw new Error(`required flag(s) ${missing.map((a) => `"${a.name}"`).join(", ")} not set`);
  const result = await engine.call({
    parentName: object,
    fnName: fn,
    parent: on?.state ?? (await constructed()),
    args,
    timeoutMs: 240_000,
  });
  outputs.push(result.output, result.error ?? "", JSON.stringify(result.returnValue ?? ""));
  expect(result.invalidQueries).toEqual([]);
  return result;
}

/** Qgo as the engine constructs it for this checkout (once: its arguments never change here). */
let qgo: Record<string, unknown> | undefined;
async function constructed(): Promise<Record<string, unknown>> {
  if (!qgo) {
    const source = engine.hostDirectory(checkout, ["**/node_modules", ".git", "**/.env"]);
    const args = withLocalDefaults(
      engine,
      scanned,
      savedDefaults,
      "Qgo",
      "",
      { source },
      { ...process.env, HOME: home },
    );
    const made = await engine.call({ parentName: "Qgo", fnName: "", args });
    if (made.error !== undefined)
      throw new Error(`constructor failed: ${made.error}\n${made.output}`);
    qgo = made.returnValue as Record<string, unknown>;
  }
  return qgo;
}

/** `dagger call environment <flags>`: the Environment object's state, for a chained method. */
async function environment(
  flags: Record<string, unknown>,
): Promise<{ object: string; state: Record<string, unknown> }> {
  const made = await daggerCall("environment", flags);
  expect(made.error, made.output).toBeUndefined();
  return { object: "Environment", state: made.returnValue as Record<string, unknown> };
}

const release = (name: "v1" | "v2") =>
  `BACKEND_IMAGE=${box.images[name].backend}\nFRONTEND_IMAGE=${box.images[name].frontend}\n`;

describe("the laptop deploy of the README, through the Dagger SDK entrypoint, with saved defaults", () => {
  let shipment = 0;

  it("dagger call deploy --env staging --release <publish output>: nothing else on the command line", async () => {
    await resetEnvironment(box, "staging");
    const { env, releaseFiles } = await boxEnvironment(box, "staging");
    const first = await outcome(
      deploy(
        {
          env,
          releaseFiles,
          backendImage: box.images.v1.backend,
          frontendImage: box.images.v1.frontend,
        },
        credentials,
        testCaller("sdk", []),
      ),
    );
    if (!first.ok) throw first.error;
    shipment = await createShipment(box, "staging", "Before the SDK deploy");

    const result = await daggerCall("deploy", { env: "staging", release: release("v2") });
    expect(result.error, result.output).toBeUndefined();
    expect(String(result.returnValue)).toMatch(
      /Deployed release r\S+ \(version v2-box\) to staging: healthy/,
    );
    expect(String(result.returnValue)).toMatch(/total [\d.]+ s, \d+ SSH round trips/);
    // Progress streamed by the module process, step by step.
    expect(result.output).toMatch(/==> \[backup\][\s\S]*==> \[migrate\][\s\S]*==> \[health\]/);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v2-box",
    });
    // The holder came from the saved defaults (DEPLOY_HOLDER=${MY_NAME}).
    expect(history(box, "staging").at(-1)).toMatchObject({
      holder: "your-name",
      version: "v2-box",
    });
  });

  it("dagger call rollback --env staging --to previous puts v1 back; a bad --backup fails the call clearly", async () => {
    const bad = await daggerCall("rollback", { env: "staging", backup: "../x" });
    expect(bad.error).toMatch(
      /Bad backup name "\.\.\/x": give only the file name \(no path parts\)/,
    );

    const result = await daggerCall("rollback", { env: "staging", to: "previous" });
    expect(result.error, result.output).toBeUndefined();
    expect(String(result.returnValue)).toMatch(
      /Rolled staging back to release r\S+ \(version v1-box\): healthy/,
    );
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await shipmentExists(box, "staging", shipment)).toBe(true);
  });

  it("dagger call backups, releases and unlock --env staging read the server with the saved defaults", async () => {
    const backups = await daggerCall("backups", { env: "staging" });
    expect(String(backups.returnValue)).toMatch(
      /^backup_staging_\d{8}_\d{6}\.tar\.gz \d+ restore proven \(tables=\d+ rows=\d+\)$/m,
    );
    const releases = await daggerCall("releases", { env: "staging" });
    expect(String(releases.returnValue)).toMatch(
      / rollback success release=r\S+ serving=r\S+ version=v1-box /,
    );
    const unlocked = await daggerCall("unlock", { env: "staging" });
    expect(unlocked.error, unlocked.output).toBeUndefined();
    expect(String(unlocked.returnValue)).toContain("no lock held");
  });

  it("a passphrase-protected key works with --ssh-key-passphrase and fails clearly with a wrong one", async () => {
    // The box's authorized key, encrypted by OpenSSH's ssh-keygen -p.
    const encrypted = join(home, ".ssh", "qgo_deploy_encrypted");
    writeFileSync(encrypted, credentials.privateKey, { mode: 0o600 });
    execFileSync("ssh-keygen", [
      "-q",
      "-p",
      "-P",
      "",
      "-N",
      "correct horse battery",
      "-f",
      encrypted,
    ]);
    const sshKey = engine.secret(`file://${encrypted}`, readFileSync(encrypted, "utf8"));
    const status = await daggerCall("status", {
      env: "staging",
      sshKey,
      sshKeyPassphrase: engine.secret("env://QGO_PASSPHRASE", "correct horse battery"),
    });
    expect(status.error, status.output).toBeUndefined();
    expect(String(status.returnValue)).toContain("lock: free");
    const wrong = await daggerCall("status", {
      env: "staging",
      sshKey,
      sshKeyPassphrase: engine.secret("env://QGO_WRONG", "wrong horse"),
    });
    expect(wrong.error).toMatch(
      /could not be decrypted: the passphrase \(--ssh-key-passphrase\) is wrong\. Nothing was changed/,
    );
    const none = await daggerCall("status", { env: "staging", sshKey });
    expect(none.error).toMatch(
      /The SSH deploy key is encrypted: pass its passphrase as a Secret, --ssh-key-passphrase/,
    );
  });

  it("deploy --env staging --tag v2: what CI published under a tag, resolved to its digests on the server", async () => {
    const result = await daggerCall("deploy", { env: "staging", tag: "v2" });
    expect(result.error, result.output).toBeUndefined();
    expect(result.output).toContain(
      `tag v2 of ${box.registry}/qgo is ${box.images.v2.backend}, ${box.images.v2.frontend}`,
    );
    expect(String(result.returnValue)).toMatch(
      /Deployed release r\S+ \(version v2-box\) to staging: healthy/,
    );
    expect(history(box, "staging").at(-1)).toMatchObject({
      backendImage: box.images.v2.backend,
      frontendImage: box.images.v2.frontend,
    });
    const unknown = await daggerCall("deploy", { env: "staging", tag: "no-such-tag" });
    expect(unknown.error).toMatch(/step resolve failed/);
    expect(history(box, "staging").at(-1)).toMatchObject({ backendImage: box.images.v2.backend });
  });

  it("CI's long form: environment --name staging --run-url ... deploy --registry-password ..., then summary and logs", async () => {
    const runUrl = "https://ci.example.invalid/runs/sdk";
    const staging = await environment({
      name: "staging",
      holder: "sdk-test",
      runUrl,
      slackWebhook: engine.secret("env://SLACK_WEBHOOK_URL", credentials.slackWebhook!),
    });
    const deployed = await daggerCall(
      "deploy",
      {
        release: release("v2"),
        registryUsername: "qgo-ci",
        registryPassword: engine.secret("env://GITHUB_TOKEN", credentials.registryPassword),
      },
      staging,
    );
    expect(deployed.error, deployed.output).toBeUndefined();
    expect(deployed.output).toContain("(docker login to ");
    expect(deployed.output).toContain("logged out of ");
    expect(history(box, "staging").at(-1)).toMatchObject({
      holder: "sdk-test",
      runUrl,
      version: "v2-box",
    });
    expect(slack.messages.some((m) => m.includes("staging"))).toBe(true);

    const summary = await daggerCall("summary", { outcome: "success" }, staging);
    expect(summary.error, summary.output).toBeUndefined();
    const file = engine
      .lookup(String(summary.returnValue))!
      .chain.find((step) => step.field === "withNewFile")!;
    const markdown = String(file.args.contents);
    outputs.push(markdown);
    expect(markdown).toContain("### Deploy ✅ succeeded");
    expect(markdown).toMatch(/\| `route` \| [\d.]+ s \| ok \|/);
    expect(markdown).toContain("lock: free");
    // The short form renders the same run's summary.
    const short = await daggerCall("deploySummary", { env: "staging", runUrl, outcome: "success" });
    expect(short.error, short.output).toBeUndefined();
    const withoutUptime = (text: string) => text.replace(/"uptime":\d+/g, '"uptime":N');
    const shortMarkdown = String(
      engine.lookup(String(short.returnValue))!.chain.find((step) => step.field === "withNewFile")!
        .args.contents,
    );
    expect(withoutUptime(shortMarkdown)).toBe(withoutUptime(markdown));

    const logs = await daggerCall("logs", { lines: 50 }, staging);
    expect(logs.error, logs.output).toBeUndefined();
    const text = String(logs.returnValue);
    // Each deploy adds a backend beside the serving one: its number grows.
    expect(text).toMatch(/backend-\d+ +\| \d{4}-\d\d-\d\dT/);
    // The server's own secrets (its .env) never leave it: every value is *** in the logs.
    const serverSecrets = readFileSync(join(box.stagingAppDir, ".env"), "utf8")
      .split("\n")
      .filter((line) => /^MYSQL_(ROOT_)?PASSWORD=/.test(line))
      .map((line) => line.slice(line.indexOf("=") + 1));
    expect(serverSecrets.length).toBe(2);
    for (const secret of serverSecrets) expect(text).not.toContain(secret);
  });

  it("a qa environment is one more JSON file: deploy --env qa serves it, status reads it", async () => {
    const qaDir = join(box.serverRoot, "root", "qgo-qa");
    const backend = await freeLoopbackPort(box.listeningPorts);
    const ports = { backend, frontend: await freeLoopbackPort([...box.listeningPorts, backend]) };
    mkdirSync(join(qaDir, "backend", "uploads"), { recursive: true });
    mkdirSync(join(qaDir, "backend", "logs"), { recursive: true });
    const stagingEnv = readFileSync(join(box.stagingAppDir, ".env"), "utf8");
    writeFileSync(
      join(qaDir, ".env"),
      stagingEnv
        .replace(/^BACKEND_PORT=.*$/m, `BACKEND_PORT=${ports.backend}`)
        .replace(/^FRONTEND_PORT=.*$/m, `FRONTEND_PORT=${ports.frontend}`),
      { mode: 0o600 },
    );
    // The backend's user (uid 1000) writes uploads and logs, as in the box's own app dirs.
    for (const sub of ["backend/uploads", "backend/logs"]) chownSync(join(qaDir, sub), 1000, 1000);
    writeEnvironment("qa", {
      $schema: "./environment.schema.json",
      name: "qa",
      host: box.sshHost,
      knownHosts: [box.knownHostsLine],
      sshPort: box.sshPort,
      appDir: qaDir,
      backupsDir: box.backupsDir,
      composeFiles: ["compose.yaml", "compose.staging.yaml"],
      project: "qgo-qa",
      ports,
      migrateCommand: boxMigrateCommand,
      health: { attempts: 5, initialDelaySeconds: 1, maxDelaySeconds: 3, timeoutSeconds: 4 },
    });
    try {
      const result = await daggerCall("deploy", { env: "qa", release: release("v1") });
      expect(result.error, result.output).toBeUndefined();
      expect(String(result.returnValue)).toMatch(
        /Deployed release r\S+ \(version v1-box\) to qa: healthy/,
      );
      const health = await httpRequest(`http://127.0.0.1:${ports.frontend}/health`);
      expect(await health.json()).toMatchObject({ status: "ok", version: "v1-box" });
      const status = await daggerCall("status", { env: "qa" });
      expect(String(status.returnValue)).toMatch(/release: r\d{8}_\d{6}_[0-9a-f]{6}/);
      expect(String(status.returnValue)).toContain("lock: free");
    } finally {
      const docker = boxDocker(box);
      const ids = (
        await docker`docker ps -aq --filter label=com.docker.compose.project=qgo-qa`
      ).stdout.trim();
      if (ids) await docker`docker rm -f ${ids.split("\n")}`;
      const volumes = (
        await docker`docker volume ls -q --filter label=com.docker.compose.project=qgo-qa`
      ).stdout.trim();
      if (volumes) await docker`docker volume rm ${volumes.split("\n")}`;
      const networks = (
        await docker`docker network ls -q --filter label=com.docker.compose.project=qgo-qa`
      ).stdout.trim();
      if (networks) await docker`docker network rm ${networks.split("\n")}`;
      rmSync(qaDir, { recursive: true, force: true });
    }
  });

  it("deploy --env production --promote-from staging reads staging's release on staging's own server", async () => {
    await resetEnvironment(box, "production");
    const result = await daggerCall("deploy", {
      env: "production",
      promoteFrom: "staging",
      approved: true,
    });
    expect(result.error, result.output).toBeUndefined();
    // Two servers, each reached by its own name and checked against its own known_hosts line.
    expect(result.output).toContain(`connecting to root@[127.0.0.1]:${box.sshPort}`);
    expect(result.output).toContain(`connecting to root@[${productionHost}]:${box.sshPort}`);
    expect(result.output).toMatch(/promoting staging's release r\S+ \(version v2-box\)/);
    expect(String(result.returnValue)).toMatch(
      /Deployed release r\S+ \(version v2-box\) to production: healthy/,
    );
    expect(await servedThroughFrontend(box, "production")).toMatchObject({
      status: "ok",
      version: "v2-box",
    });
    expect(history(box, "production").at(-1)).toMatchObject({
      backendImage: box.images.v2.backend,
      frontendImage: box.images.v2.frontend,
    });
  });

  it("the module processes printed no secret bytes; no server log holds one", () => {
    recordLog(outputs);
    expect(
      secretLeaks(box, credentials, {
        "module output": outputs.join("\n"),
        "slack messages": slack.messages.join("\n"),
      }),
    ).toEqual([]);
  });
});

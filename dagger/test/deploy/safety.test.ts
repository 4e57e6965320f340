// Safety of deploys to production on the VPS-in-a-box (app dir ".../NEW START"): input
// errors and a wrong host key change nothing; a concurrent deploy is refused; a deploy whose
// SSH connection is cut leaves a stale lock that `unlock` clears, and the rerun loses nothing;
// retention keeps five backups of this environment only; no secret reaches any log.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import type { VpsBox } from "../vps/box.js";
import { vpsBox } from "../vps/helpers.js";
import { deploy, unlock } from "../../src/deploy/index.js";
import { deployFunction, rollbackFunction } from "../../src/deploy/functions.js";
import { diskReader } from "../../src/deploy/repo-files.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  appliedMigrations,
  backupsOf,
  boxCredentials,
  boxEnvironment,
  boxMigrateCommand,
  createShipment,
  databaseFingerprint,
  history,
  outcome,
  recordLog,
  repoRoot,
  resetEnvironment,
  servedThroughFrontend,
  shipmentExists,
  startSlack,
  secretLeaks,
  stateFile,
  testCaller,
  releaseImages,
} from "./support.js";

let box: VpsBox;
let env: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let slack: Awaited<ReturnType<typeof startSlack>>;
let credentials: ReturnType<typeof boxCredentials>;
const lines: string[] = [];

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  await resetEnvironment(box, "production");
  ({ env, releaseFiles } = await boxEnvironment(box, "production"));
});
afterAll(() => slack?.server.close());

const images = (release: "v1" | "v2") => releaseImages(box, release);
const acceptedLogins = () =>
  (readFileSync(join(box.stateDir, "sshd.log"), "utf8").match(/Accepted publickey/g) ?? []).length;
const serverUntouched = () =>
  !existsSync(join(env.appDir, ".qgo-deploy", "lock")) && history(box, "production").length === 0;

/** The SHA256 fingerprint of a known_hosts line's key, as OpenSSH's ssh-keygen -lf prints it. */
function fingerprintByOpenSsh(line: string): string {
  const printed = execFileSync("ssh-keygen", ["-lf", "-"], {
    input: `${line}\n`,
    encoding: "utf8",
  });
  return printed.split(/\s+/)[1] ?? "";
}

/** The known_hosts line of a freshly generated key: the right host and port, the wrong key. */
function wrongKnownHostsLine(): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = Buffer.from(publicKey.export({ format: "jwk" }).x ?? "", "base64url");
  const u32 = (n: number) => Buffer.from([0, 0, 0, n]);
  const blob = Buffer.concat([u32(11), Buffer.from("ssh-ed25519"), u32(raw.length), raw]);
  return `[127.0.0.1]:${box.sshPort} ssh-ed25519 ${blob.toString("base64")}`;
}

/** The overrides the Environment object carries for the box's production (what `environment --host ...` passes). */
const target = (name = "production") => ({
  name,
  overrides: {
    host: box.sshHost,
    sshPort: box.sshPort,
    knownHosts: [box.knownHostsLine],
    appDir: env.appDir,
    backupsDir: box.backupsDir,
    ports: {
      backend: box.ports.production.backend,
      frontend: box.ports.production.frontend,
      https: box.ports.production.https,
    },
    migrateCommand: boxMigrateCommand,
    health: { attempts: 5 },
  },
});
const operator = (secrets: Partial<typeof credentials> = {}) => ({
  credentials: () => Promise.resolve({ ...credentials, ...secrets }),
});

describe("production safety on the VPS-in-a-box", () => {
  it("refuses unknown environments, missing secrets and an unapproved production deploy, changing nothing", async () => {
    const repo = diskReader(repoRoot);
    await expect(deployFunction(repo, target("prod"), images("v1"), operator())).rejects.toThrow(
      /Unknown environment "prod"\. Known environments: production, staging.*Nothing was changed/,
    );
    await expect(
      deployFunction(
        repo,
        target(),
        { ...images("v1"), approved: true },
        operator({ privateKey: "" }),
      ),
    ).rejects.toThrow(
      /Missing secret: the SSH deploy key \(--ssh-key env:\/\/DEPLOY_SSH_KEY\) is empty/,
    );
    await expect(
      deployFunction(
        repo,
        target(),
        { ...images("v1"), approved: true },
        operator({ registryPassword: "" }),
      ),
    ).rejects.toThrow(/Missing secret: --registry-password was given but is empty/);
    await expect(deployFunction(repo, target(), images("v1"), operator())).rejects.toThrow(
      /production requires an approval: pass --approved/,
    );
    await expect(
      rollbackFunction(
        repo,
        target(),
        { backup: "backup_staging_20260101_000000.tar.gz" },
        operator(),
      ),
    ).rejects.toThrow(/belongs to staging, not production/);
    expect(serverUntouched()).toBe(true);
  });

  it("a wrong host key is refused during the handshake, before any command, showing both fingerprints", async () => {
    const logins = acceptedLogins();
    const wrong = wrongKnownHostsLine();
    const result = await outcome(
      deploy(
        { env: { ...env, knownHosts: [wrong] }, releaseFiles, ...images("v1"), approved: true },
        credentials,
        testCaller("safety", lines),
      ),
    );
    const message = result.ok ? "" : result.error.message;
    expect(message).toMatch(
      /Host key verification failed for \[127\.0\.0\.1\]:\d+.*before any command ran/,
    );
    // OpenSSH's ssh-keygen is the ground truth for both fingerprints.
    const presented = fingerprintByOpenSsh(box.knownHostsLine);
    const expected = fingerprintByOpenSsh(wrong);
    expect(message).toContain(
      `the server presented ssh-ed25519 ${presented}, but known_hosts expects ssh-ed25519 ${expected}`,
    );
    expect(message).toContain("ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub");
    expect(result.ok ? -1 : result.report?.roundTrips).toBe(0);
    expect(acceptedLogins()).toBe(logins);
    expect(serverUntouched()).toBe(true);
  });

  let shipment = 0;

  it("a second deploy while the lock is held is refused with who holds it", async () => {
    let second: Promise<Awaited<ReturnType<typeof outcome>>> | undefined;
    const first = outcome(
      deploy({ env, releaseFiles, ...images("v1"), approved: true }, credentials, {
        ...testCaller("safety-first", lines),
        log: (line) => {
          lines.push(line);
          // Start the competitor while the first deploy is inside its backup.
          if (line.startsWith("==> [backup]") && !second) {
            second = outcome(
              deploy(
                { env, releaseFiles, ...images("v1"), approved: true },
                credentials,
                testCaller("safety-second", lines),
              ),
            );
          }
        },
      }),
    );
    const firstResult = await first;
    if (!firstResult.ok) throw firstResult.error;
    const secondResult = await second!;
    expect(!secondResult.ok && secondResult.error.message).toMatch(
      /The deploy lock of production is held by vitest:safety-first \(operation deploy r\S+, commit 0123456789abcdef, run https:\/\/ci\.example\.invalid\/runs\/safety-first, since \d{4}-.*Nothing was changed/,
    );
    expect(await servedThroughFrontend(box, "production")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(history(box, "production").filter((e) => e.result === "success")).toHaveLength(1);
    shipment = await createShipment(box, "production", "Before the cut");
  });

  it("an SSH connection cut mid-deploy leaves a stale lock; after unlock the rerun is healthy and nothing is lost", async () => {
    const before = await databaseFingerprint(box, "production");
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v2"), approved: true }, credentials, {
        ...testCaller("safety-cut", lines),
        log: (line) => {
          lines.push(line);
          if (line.startsWith("==> [upload]")) {
            // Kill the server side of every SSH session (the sshd processes under the listener).
            void $({ quiet: true, nothrow: true })`pkill -KILL -P ${String(box.pids.sshd)}`;
          }
        },
      }),
    );
    expect(!result.ok && result.error.message).toMatch(
      /SSH connection lost during step \w+.*the deploy lock of production stays held.*unlock --env production/s,
    );
    // Still v1, data as before: the cut came before the switch.
    expect(await servedThroughFrontend(box, "production")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await databaseFingerprint(box, "production")).toEqual(before);

    const refused = await outcome(
      deploy(
        { env, releaseFiles, ...images("v2"), approved: true },
        credentials,
        testCaller("safety-rerun", lines),
      ),
    );
    expect(!refused.ok && refused.error.message).toMatch(/held by vitest:safety-cut/);

    const unlocked = await outcome(unlock(env, credentials, testCaller("safety-unlock", lines)));
    if (!unlocked.ok) throw unlocked.error;
    expect(unlocked.report.summary).toMatch(/holder=vitest:safety-cut[\s\S]*lock removed/);
    expect(readFileSync(join(env.appDir, ".qgo-deploy", "audit.log"), "utf8")).toMatch(
      /action=unlock result=success holder=vitest:safety-unlock/,
    );

    const rerun = await outcome(
      deploy(
        { env, releaseFiles, ...images("v2"), approved: true },
        credentials,
        testCaller("safety-rerun", lines),
      ),
    );
    if (!rerun.ok) throw rerun.error;
    expect(await servedThroughFrontend(box, "production")).toMatchObject({
      status: "ok",
      version: "v2-box",
    });
    expect(await appliedMigrations(box, "production")).toContain(box.v2Migration.name);
    expect(await shipmentExists(box, "production", shipment)).toBe(true);
    expect(readdirSync(box.backupsDir).filter((n) => n.startsWith("."))).toEqual([]);
  });

  it("retention: after seven deploys five production backups remain, staging's untouched", async () => {
    const stagingBackups = backupsOf(box, "staging");
    let deploys = history(box, "production").filter((e) => e.action === "deploy").length;
    while (deploys < 7) {
      const result = await outcome(
        deploy(
          { env, releaseFiles, ...images(deploys % 2 === 0 ? "v1" : "v2"), approved: true },
          credentials,
          testCaller("safety-retention", lines),
        ),
      );
      if (!result.ok) throw result.error;
      deploys += 1;
    }
    const kept = backupsOf(box, "production");
    const madeByDeploys = history(box, "production")
      .map((e) => e.backup)
      .filter((b): b is string => typeof b === "string");
    // The newest five, and the one taken before the last deploy that ran migrations (v2's
    // first), which retention keeps while it is the way back to the schema before them.
    const beforeMigration = readFileSync(
      stateFile(box, "production", "backup-before-migration"),
      "utf8",
    ).trim();
    const newest = [...new Set(madeByDeploys)].sort().slice(-5);
    expect(kept).toEqual([...new Set([...newest, beforeMigration])].sort());
    expect(kept.length).toBeLessThanOrEqual(6);
    expect(backupsOf(box, "staging")).toEqual(stagingBackups);
    expect(await shipmentExists(box, "production", shipment)).toBe(true);
    expect(slack.messages.length).toBeGreaterThanOrEqual(7);
  });

  it("no secret bytes in any output: operation logs, errors, Slack messages, server and daemon logs", () => {
    recordLog(lines);
    expect(lines.length).toBeGreaterThan(100);
    // The password really went to the server (docker login on stdin), so masking mattered.
    expect(
      lines.some((l) =>
        l.startsWith("==> [pull] pull the backend and frontend images (docker login to"),
      ),
    ).toBe(true);
    expect(
      secretLeaks(box, credentials, {
        "operation logs": lines.join("\n"),
        "slack messages": slack.messages.join("\n"),
      }),
    ).toEqual([]);
  });
});

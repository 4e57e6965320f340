// Unit tests of the deploy core's pure parts. The builders' scripts are parsed by the real
// bash (`bash -n`) and the ones that only touch files are run for real against a temporary
// directory whose path contains a space, the way production's "/root/NEW START" does.
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { createServer, type Server } from "node:http";
import {
  mkdtempSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  existsSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as commands from "../../src/deploy/commands.js";
import { remoteInvocation } from "../../src/deploy/executor.js";
import {
  resolveEnvironment,
  DeployConfigError,
  type EnvironmentSettings,
} from "../../src/deploy/environments.js";
import {
  hostKeyIsKnown,
  keysForHost,
  parseKnownHosts,
  hostKeyAlgorithms,
} from "../../src/deploy/known-hosts.js";
import { LineSink, Redactor } from "../../src/deploy/redact.js";
import { previousServing, validateBackupName, deploy, rollback } from "../../src/deploy/deploy.js";
import { loadRepoFiles } from "../../src/deploy/repo-files.js";
import { parsePublishOutput } from "../../src/deploy/functions.js";
import { sshKeygen } from "./ssh-keys.js";

const repoRoot = resolve(import.meta.dirname, "../../..");
const throwawayKey = (): string => sshKeygen().privateKey;
/** A known_hosts line for the unit tests' offline environments (never connected to). */
const someKnownHosts = [
  `192.0.2.1 ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString("base64")}`,
];
const stagingJson = readFileSync(join(repoRoot, "deploy/environments/staging.json"), "utf8");
const productionJson = readFileSync(join(repoRoot, "deploy/environments/production.json"), "utf8");
const digest = (c: string) => `127.0.0.1:5000/qgo/backend@sha256:${c.repeat(64)}`;

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), "qgo deploy unit "));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function envIn(dir: string, overrides: Partial<EnvironmentSettings> = {}): EnvironmentSettings {
  return resolveEnvironment("staging", stagingJson, {
    host: "127.0.0.1",
    appDir: join(dir, "NEW START"),
    backupsDir: join(dir, "back ups"),
    ...overrides,
  });
}

/** Runs bash without blocking the event loop (the health tests' HTTP server must answer). */
function bashAsync(
  script: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn("bash", ["-c", script]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

function bash(script: string, stdin?: string) {
  return spawnSync("bash", ["-c", script], { input: stdin ?? "", encoding: "utf8" });
}

describe("environments", () => {
  it("reads the repository's staging and production settings with issue defaults", () => {
    const staging = resolveEnvironment("staging", stagingJson, { host: "stage.example.net" });
    const production = resolveEnvironment("production", productionJson, {
      host: "prod.example.net",
    });
    expect(staging.ports).toEqual({ backend: 5001, frontend: 8080 });
    expect(production.ports).toEqual({ backend: 5000, frontend: 80, https: 443 });
    expect(production.appDir).toBe("/root/NEW START");
    expect(staging.backupRetention).toBe(5);
    expect(production.approvalRequired).toBe(true);
    expect(staging.approvalRequired).toBe(false);
    expect(staging.migrateCommand).toEqual(["npx", "prisma", "migrate", "deploy"]);
  });

  it("lets every field be overridden, and ports move the health URLs along", () => {
    const env = resolveEnvironment("staging", stagingJson, {
      host: "h",
      sshPort: 2222,
      ports: { backend: 15001 },
      health: { attempts: 3 },
      migrateCommand: ["node", "scripts/apply-migrations.mjs"],
    });
    expect(env.sshPort).toBe(2222);
    expect(env.healthUrls.backend).toBe("http://127.0.0.1:15001/health");
    expect(env.healthUrls.frontend).toBe("http://127.0.0.1:8080/");
    expect(env.health).toMatchObject({ attempts: 3, timeoutSeconds: 5 });
    expect(env.migrateCommand).toEqual(["node", "scripts/apply-migrations.mjs"]);
  });

  it("refuses unknown environments and bad settings with a clear message", async () => {
    await expect(loadRepoFiles(repoRoot, "prod")).rejects.toThrow(
      /Unknown environment "prod"\. Known environments: production, staging\. To add one, add deploy\/environments\/prod\.json/,
    );
    expect(() => resolveEnvironment("Prod; rm", "{}")).toThrow(
      /Bad environment name "Prod; rm": use lower-case letters, digits and -/,
    );
    expect(() => resolveEnvironment("staging", stagingJson)).toThrow(
      /host is not set: pass --host/,
    );
    expect(() =>
      resolveEnvironment("staging", stagingJson, { host: "h", appDir: "relative/dir" }),
    ).toThrow(/appDir must be an absolute path/);
    expect(() =>
      resolveEnvironment("staging", stagingJson, { host: "h", composeFiles: ["../x.yaml"] }),
    ).toThrow(DeployConfigError);
    expect(() => resolveEnvironment("staging", "{ nope", { host: "h" })).toThrow(/not valid JSON/);
  });

  it("loads the compose files named by the environment from deploy/", async () => {
    const { env, releaseFiles } = await loadRepoFiles(repoRoot, "production", { host: "h" });
    expect(releaseFiles.map((f) => f.name)).toEqual(env.composeFiles);
    for (const file of releaseFiles) expect(file.content, file.name).toContain("services:");
  });
});

describe("known_hosts", () => {
  const key = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, 7),
  ]);
  const other = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, 9),
  ]);
  const line = `[127.0.0.1]:2222 ssh-ed25519 ${key.toString("base64")}`;

  it("matches [host]:port lines and only the exact key", () => {
    const entries = keysForHost(line, "127.0.0.1", 2222);
    expect(hostKeyIsKnown(entries, key)).toBe(true);
    expect(hostKeyIsKnown(entries, other)).toBe(false);
    expect(hostKeyAlgorithms(entries)).toEqual(["ssh-ed25519"]);
  });

  it("refuses a host or port without a line before connecting", () => {
    expect(() => keysForHost(line, "127.0.0.1", 22)).toThrow(/No known_hosts entry for 127.0.0.1/);
    expect(() => keysForHost(line, "10.0.0.1", 2222)).toThrow(/No known_hosts entry/);
  });

  it("understands hashed host names, as ssh-keyscan -H writes them", () => {
    const salt = Buffer.alloc(20, 3);
    const hash = execFileSync("node", [
      "-e",
      `const c=require("crypto");process.stdout.write(c.createHmac("sha1",Buffer.from("${salt.toString("base64")}","base64")).update("[127.0.0.1]:2222").digest("base64"))`,
    ]).toString();
    const hashed = `|1|${salt.toString("base64")}|${hash} ssh-ed25519 ${key.toString("base64")}`;
    expect(keysForHost(hashed, "127.0.0.1", 2222)).toHaveLength(1);
    expect(() => keysForHost(hashed, "127.0.0.1", 2223)).toThrow(/No known_hosts entry/);
  });

  it("rejects text that is not a known_hosts line", () => {
    expect(() => parseKnownHosts("just-a-host")).toThrow(/Not a known_hosts line/);
    expect(() => parseKnownHosts(`h ssh-rsa ${key.toString("base64")}`)).toThrow(
      /does not match its key/,
    );
  });
});

describe("redaction", () => {
  it("masks secrets even when they arrive split across chunks", () => {
    const redactor = new Redactor(["s3cret-password", undefined, "ab"]);
    const lines: string[] = [];
    const sink = new LineSink(redactor, (l) => lines.push(l));
    sink.write("login with s3cret-pa");
    sink.write("ssword ok\nab stays\n");
    sink.flush();
    expect(lines).toEqual(["login with *** ok", "ab stays"]);
  });
});

describe("input validation", () => {
  const env = resolveEnvironment("staging", stagingJson, { host: "h", knownHosts: someKnownHosts });
  it("accepts only plain backup names of the environment itself", () => {
    expect(() => validateBackupName("backup_staging_20260101_120000.tar.gz", env)).not.toThrow();
    expect(() => validateBackupName("../x", env)).toThrow(/no path parts/);
    expect(() =>
      validateBackupName("/root/backups/backup_staging_20260101_120000.tar.gz", env),
    ).toThrow(/no path parts/);
    expect(() => validateBackupName("backup_production_20260101_120000.tar.gz", env)).toThrow(
      /belongs to production, not staging/,
    );
    expect(() => validateBackupName("backup_staging_2026.tar.gz", env)).toThrow(
      /expected backup_staging_<YYYYMMDD_HHMMSS>/,
    );
  });

  it("refuses missing secrets, tags instead of digests and unknown compose files before connecting", async () => {
    const files = [
      { name: "compose.yaml", content: "services: {}\n" },
      { name: "compose.staging.yaml", content: "services: {}\n" },
    ];
    const caller = { holder: "unit" };
    const key = throwawayKey();
    const images = { backendImage: digest("a"), frontendImage: digest("b") };
    await expect(
      deploy({ env, releaseFiles: files, ...images }, { privateKey: "" }, caller),
    ).rejects.toThrow(/Missing secret: the SSH deploy key/);
    await expect(
      deploy(
        { env: { ...env, knownHosts: [] }, releaseFiles: files, ...images },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(
      /Missing known_hosts for staging: .*Add it to knownHosts in deploy\/environments\/staging.json or pass --known-hosts/,
    );
    await expect(
      deploy(
        { env, releaseFiles: files, ...images, frontendImage: "nginx:latest" },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(/not a digest reference/);
    await expect(
      deploy({ env, releaseFiles: files.slice(0, 1), ...images }, { privateKey: key }, caller),
    ).rejects.toThrow(/compose.staging.yaml .* was not found/);
    await expect(rollback({ env, backup: "../x" }, { privateKey: key }, caller)).rejects.toThrow(
      /no path parts/,
    );
    await expect(rollback({ env }, { privateKey: key }, caller)).rejects.toThrow(
      /exactly one of --backup NAME or --to previous/,
    );
  });

  it("prints an exact plan on --dry-run without connecting anywhere", async () => {
    const files = [
      { name: "compose.yaml", content: "services: {}\n" },
      { name: "compose.staging.yaml", content: "services: {}\n" },
    ];
    const key = throwawayKey();
    const keyMaterial = key.split("\n")[1]!;
    // Port 1 on a documentation address: a connection attempt would fail the test.
    const offline = resolveEnvironment("staging", stagingJson, {
      host: "192.0.2.1",
      sshPort: 1,
      knownHosts: someKnownHosts,
    });
    const report = await deploy(
      {
        env: offline,
        releaseFiles: files,
        backendImage: digest("a"),
        frontendImage: digest("b"),
        dryRun: true,
      },
      { privateKey: key, registryPassword: "registry-pass-123" },
      { holder: "unit" },
    );
    expect(report.ok).toBe(true);
    expect(report.roundTrips).toBe(0);
    expect(report.plan).toContain("### backup:");
    expect(report.plan).toContain("docker login --username deploy --password-stdin 127.0.0.1:5000");
    expect(report.plan).toContain("stdin: 17 secret bytes (not shown)");
    expect(report.plan).not.toContain("registry-pass-123");
    expect(report.log.join("\n")).not.toContain(keyMaterial);
  });
});

describe("command builders", () => {
  it("every script starts with set -euo pipefail, passes shellcheck and parses with bash", () => {
    const env = envIn(scratch);
    const images = { backendImage: digest("a"), frontendImage: digest("b") };
    const all = [
      commands.acquireLock(env, {
        holder: "me",
        commit: "abc",
        runUrl: "https://ci/run/1",
        token: "t",
        operation: "deploy",
      }),
      commands.releaseLock(env, "t"),
      commands.forceUnlock(env, "me"),
      commands.preflight(env),
      commands.createBackup(env, "backup_staging_20260101_120000.tar.gz"),
      commands.pruneBackups(env, "backup_staging_20260101_120000.tar.gz"),
      commands.uploadRelease(
        env,
        "r20260101_120000_abcdef",
        [{ name: "compose.yaml", content: "a: '$X'\n" }],
        "A=1\n",
      ),
      commands.registryLogin("127.0.0.1:5000", "u", "p"),
      commands.pullImages(env, images, "r20260101_120000_abcdef"),
      commands.migrate(env, "r20260101_120000_abcdef"),
      commands.switchRelease(env, "r20260101_120000_abcdef"),
      commands.composeUp(env),
      commands.healthCheck(env, "1.2.3"),
      commands.stopApp(env),
      commands.restoreDatabase(env, "backup_staging_20260101_120000.tar.gz"),
      commands.restoreSavedRelease(env),
      commands.restoreBackupFiles(env, "backup_staging_20260101_120000.tar.gz"),
      commands.verifyBackup(env, "backup_staging_20260101_120000.tar.gz"),
      commands.listBackups(env),
      commands.readHistory(env),
      commands.readCurrentRelease(env),
      commands.statusReport(env),
      commands.recordRelease(env, {
        time: "t",
        env: "staging",
        action: "deploy",
        result: "success",
        release: "r1",
        serving: "r1",
        holder: "it's me",
      }),
      commands.appLogs(env, 200, "backend"),
      commands.appLogs(env, 10),
    ];
    const findings: string[] = [];
    for (const command of all) {
      expect(command.script.startsWith("set -euo pipefail\n"), command.step).toBe(true);
      // ShellCheck (Debian's package) on the exact script the server receives.
      const lint = spawnSync("shellcheck", ["--shell=bash", "--format=gcc", "-"], {
        input: command.script,
        encoding: "utf8",
      });
      if (lint.error)
        throw new Error(
          `shellcheck is not installed (Debian package shellcheck): ${lint.error.message}`,
        );
      if (lint.status !== 0) findings.push(`${command.step}:\n${lint.stdout}${lint.stderr}`);
      const check = spawnSync("bash", ["-n"], { input: command.script, encoding: "utf8" });
      expect(check.stderr, command.step).toBe("");
      expect(check.status, command.step).toBe(0);
    }
    expect(findings).toEqual([]);
    // The secret goes on stdin, never into the script.
    const login = commands.registryLogin("r", "u", "pa55word");
    expect(login.script).not.toContain("pa55word");
    expect(login.stdin).toBe("pa55word");
  });

  it("quotes the app dir with its space in compose commands", () => {
    const env = resolveEnvironment("production", productionJson, { host: "h" });
    const compose = commands.composeCommand(env);
    expect(compose).toContain(`--project-directory $'/root/NEW START'`);
    expect(compose).toContain(`-f $'/root/NEW START/compose.production.yaml'`);
    expect(compose).toContain(`-p qgo-production`);
    expect(commands.migrate(env, "r20260101_120000_abcdef").script).toContain(
      `run --rm --no-deps -T backend npx prisma migrate deploy`,
    );
  });

  it("transports scripts base64-encoded so any login shell passes them to bash intact", () => {
    const text = "set -euo pipefail\necho \"it's $((1+2)) in 'NEW START'\"\n";
    const out = spawnSync("sh", ["-c", remoteInvocation(text)], { encoding: "utf8" });
    expect(out.stdout).toBe("it's 3 in 'NEW START'\n");
  });

  it("the lock is taken once, refused with the holder's details, and released only by its token", () => {
    const env = envIn(join(scratch, "lock"));
    mkdirSync(env.appDir, { recursive: true });
    const info = {
      holder: "alice@ci",
      commit: "c0ffee",
      runUrl: "https://ci.example/runs/7",
      token: "tok-1",
      operation: "deploy r1",
    };
    expect(bash(commands.acquireLock(env, info).script).status).toBe(0);
    const second = bash(
      commands.acquireLock(env, { ...info, holder: "bob", token: "tok-2" }).script,
    );
    expect(second.status).toBe(commands.LOCK_HELD_EXIT);
    expect(second.stdout).toContain("holder=alice@ci");
    expect(second.stdout).toContain("run_url=https://ci.example/runs/7");
    expect(second.stdout).toMatch(/since=\d{4}-\d\d-\d\dT/);
    bash(commands.releaseLock(env, "tok-2").script);
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(true);
    bash(commands.releaseLock(env, "tok-1").script);
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(false);
    bash(commands.acquireLock(env, info).script);
    const forced = bash(commands.forceUnlock(env, "it's bob").script);
    expect(forced.stdout).toContain("holder=alice@ci");
    expect(readFileSync(join(env.appDir, ".qgo-deploy/audit.log"), "utf8")).toMatch(
      /env=staging action=unlock result=success holder=it's bob\n$/,
    );
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(false);
  });

  it("retention keeps the newest five of this environment, never the new one, never another env's", () => {
    const env = envIn(join(scratch, "retention"));
    mkdirSync(env.backupsDir, { recursive: true });
    const names = [1, 2, 3, 4, 5, 6, 7].map((d) => `backup_staging_2026010${d}_120000.tar.gz`);
    const production = "backup_production_20250101_000000.tar.gz";
    for (const name of [...names, production, "notes.txt"])
      writeFileSync(join(env.backupsDir, name), "x");
    // The "new" one is deliberately not the newest by name: it must survive anyway.
    const result = bash(commands.pruneBackups(env, names[0]!).script);
    expect(result.status).toBe(0);
    const left = readdirSync(env.backupsDir).sort();
    expect(left).toEqual(
      [production, names[0], names[3], names[4], names[5], names[6], "notes.txt"].sort(),
    );
  });

  it("upload writes files byte for byte, whatever characters they hold", () => {
    const env = envIn(join(scratch, "upload"));
    const content = "x: \"$HOME `id` $(whoami)\"\n'quotes' \\ back\\slash\n€ and trailing";
    const result = bash(
      commands.uploadRelease(
        env,
        "r20260101_120000_abcdef",
        [{ name: "compose.yaml", content }],
        "A=1\n",
      ).script,
    );
    expect(result.status, result.stderr).toBe(0);
    const dir = join(env.appDir, ".qgo-deploy/releases/r20260101_120000_abcdef");
    expect(readFileSync(join(dir, "compose.yaml"), "utf8")).toBe(content);
    expect(readFileSync(join(dir, "release.env"), "utf8")).toBe("A=1\n");
  });

  describe("health check against a local HTTP server", () => {
    let server: Server;
    let port = 0;
    let healthyAfter = 0;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((req, res) => {
        hits += 1;
        if (req.url === "/health" && hits > healthyAfter) {
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ status: "ok", db: "up", version: "2.0.0" }));
        } else if (req.url === "/") {
          res.writeHead(200).end("<html></html>");
        } else {
          res.writeHead(503).end(JSON.stringify({ status: "error", db: "down" }));
        }
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => server.close());

    const env = () =>
      envIn(scratch, {
        healthUrls: {
          backend: `http://127.0.0.1:${port}/health`,
          frontend: `http://127.0.0.1:${port}/`,
        },
        health: { attempts: 3, initialDelaySeconds: 1, maxDelaySeconds: 1, timeoutSeconds: 2 },
      });

    it("passes once the backend turns healthy with the expected version (retries)", async () => {
      hits = 0;
      healthyAfter = 1;
      const result = await bashAsync(commands.healthCheck(env(), "2.0.0").script);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("attempt 1:");
      expect(result.stdout).toContain(`healthy: http://127.0.0.1:${port}/health (attempt 2)`);
    });

    it("fails when the serving version is not the expected one", async () => {
      hits = 0;
      healthyAfter = 0;
      const result = await bashAsync(commands.healthCheck(env(), "3.0.0").script);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("UNHEALTHY");
      expect(result.stdout).toContain("answered but not as expected");
    }, 20_000);
  });
});

describe("history", () => {
  it("finds the release that served before the current one", () => {
    const lines = [
      { result: "success", serving: "r20260101_000000_aaaaaa" },
      { result: "success", serving: "r20260102_000000_bbbbbb" },
      { result: "rolled-back", serving: "r20260102_000000_bbbbbb" },
      { result: "success", serving: "r20260103_000000_cccccc" },
    ].map((e) => JSON.stringify(e));
    expect(previousServing(lines.join("\n"), "r20260103_000000_cccccc")).toBe(
      "r20260102_000000_bbbbbb",
    );
    expect(previousServing(lines.slice(0, 1).join("\n"), "r20260101_000000_aaaaaa")).toBeNull();
    expect(previousServing("garbage\n" + lines[0], "none")).toBe("r20260101_000000_aaaaaa");
  });
});

describe("function arguments", () => {
  it("reads publish's output in either order and names a missing line", () => {
    const b = digest("a");
    const f = digest("b");
    expect(parsePublishOutput(`FRONTEND_IMAGE=${f}\nBACKEND_IMAGE=${b}\n`)).toEqual({
      backendImage: b,
      frontendImage: f,
    });
    expect(() => parsePublishOutput(`BACKEND_IMAGE=${b}`)).toThrow(
      /--release has no FRONTEND_IMAGE=… line/,
    );
  });

  it("reads publish's output with the newlines turned into spaces (as a workflow input or a paste gives it)", () => {
    const b = digest("a");
    const f = digest("b");
    const expected = { backendImage: b, frontendImage: f };
    expect(parsePublishOutput(`BACKEND_IMAGE=${b} FRONTEND_IMAGE=${f} TAGS=abc,develop`)).toEqual(
      expected,
    );
    expect(parsePublishOutput(`\r\n  BACKEND_IMAGE=${b}\r\n\tFRONTEND_IMAGE=${f}\n\n`)).toEqual(
      expected,
    );
    expect(() => parsePublishOutput(`BACKEND_IMAGE=${b} FRONTEND_IMAGE=${f} rm -rf`)).toThrow(
      /"rm" is not a BACKEND_IMAGE=/,
    );
    expect(() =>
      parsePublishOutput(`BACKEND_IMAGE=${b} BACKEND_IMAGE=${f} FRONTEND_IMAGE=${f}`),
    ).toThrow(/BACKEND_IMAGE twice/);
  });
});

describe("logs", () => {
  it("replaces every value of the server's .env and any URL password with *** before the logs leave the server", () => {
    const env = envIn(join(scratch, "logs"));
    mkdirSync(env.appDir, { recursive: true });
    writeFileSync(
      join(env.appDir, ".env"),
      [
        "# server secrets",
        "MYSQL_ROOT_PASSWORD=r00t-S3cret",
        "export MYSQL_PASSWORD='app-S3cret'",
        "MYSQL_DATABASE=qgo",
        "SHORT=abc",
        "",
      ].join("\n"),
    );
    // A stand-in `docker` on PATH prints what `docker compose logs` would, secrets included.
    const bin = join(scratch, "logs-bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "docker"),
      [
        "#!/bin/bash",
        'echo "args: $*"',
        "echo 'backend-1  | connecting with r00t-S3cret twice: r00t-S3cret'",
        "echo 'backend-1  | DATABASE_URL=mysql://qgo:app-S3cret@db:3306/qgo'",
        "echo 'backend-1  | redis://u:other-pass@cache:6379 database qgo abc'",
      ].join("\n"),
      { mode: 0o755 },
    );
    const out = bash(`PATH='${bin}':"$PATH"\n${commands.appLogs(env, 50, "backend").script}`);
    expect(out.stderr).toBe("");
    expect(out.stdout).toContain("logs --no-color --timestamps --tail 50 backend");
    expect(out.stdout).toContain("connecting with *** twice: ***");
    expect(out.stdout).toContain("mysql://qgo:***@db:3306/qgo");
    expect(out.stdout).toContain("redis://u:***@cache:6379 database qgo abc");
    expect(out.stdout).not.toMatch(/S3cret|other-pass/);
  });
});

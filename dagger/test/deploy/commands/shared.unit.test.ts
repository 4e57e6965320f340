// Every builder's script: set -euo pipefail first, clean under ShellCheck, valid bash; values
// quoted (the app dir's space); secrets only on stdin.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { resolveEnvironment } from "../../../src/deploy/environments.js";
import { digest, envIn, productionJson, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("command builders", () => {
  it("every script starts with set -euo pipefail, passes shellcheck and parses with bash", () => {
    const env = envIn(scratch());
    const withTls = {
      ...env,
      tls: {
        domains: ["cargo.example.com"],
        acmeDirectory: "https://acme.example.com/dir",
        certbotImage: "certbot/certbot:v2.11.0",
      },
    };
    const images = { backendImage: digest("a"), frontendImage: digest("b") };
    const all = [
      commands.acquireLock(env, {
        holder: "me",
        commit: "abc",
        runUrl: "https://ci/run/1",
        token: "0123456789abcdef",
        operation: "deploy",
      }),
      commands.releaseLock(env, "0123456789abcdef"),
      commands.forceUnlock(env, "me"),
      commands.forceUnlock(env, "me", true),
      {
        ...commands.preflight(env),
        script: `set -euo pipefail\n${commands.underLock(env, "0123456789abcdef", "migrate")}\n`,
      },
      commands.preflight(env),
      commands.createBackup(env, "backup_staging_20260101_120000.tar.gz"),
      commands.inOneTrip("backup", [
        commands.createBackup(env, "backup_staging_20260101_120000.tar.gz"),
        commands.pruneBackups(env, "backup_staging_20260101_120000.tar.gz"),
      ]),
      commands.pruneBackups(env, "backup_staging_20260101_120000.tar.gz"),
      commands.uploadRelease(
        env,
        "r20260101_120000_abcdef",
        [{ name: "compose.yaml", content: "a: '$X'\n" }],
        "A=1\n",
      ),
      commands.pullImages(env, images, { username: "u", password: "p" }),
      commands.pullImages(env, images, undefined, {
        migrationsDir: "prisma/migrations",
      }),
      commands.pullImages(env, images, undefined, {
        migrationsDir: "prisma/migrations",
        operation: "0123abcd",
      }),
      commands.statusReport(
        {
          ...env,
          tls: {
            domains: ["cargo.example.com"],
            acmeDirectory: "https://acme.example.com/dir",
            certbotImage: "certbot/certbot:v2.11.0",
          },
        },
        "0123abcd",
      ),
      commands.obtainCertificates({
        ...env,
        tls: {
          domains: ["cargo.example.com", "www.cargo.example.com"],
          email: "ops@example.com",
          acmeDirectory: "https://acme.example.com/dir",
          certbotImage: "certbot/certbot:v2.11.0",
        },
      }),
      commands.resolveTag("127.0.0.1:5000/qgo", "develop", { username: "u", password: "p" }),
      commands.migrate(env, "r20260101_120000_abcdef"),
      commands.migrate(env, "r20260101_120000_abcdef", "backup_staging_20260101_120000.tar.gz"),
      commands.proveBackup(env, "backup_staging_20260101_120000.tar.gz", "0123abcd", {
        backendImage: images.backendImage,
        migrateCommand: ["npx", "prisma", "migrate", "deploy"],
        migrationsDir: "prisma/migrations",
      }),
      commands.proveBackup(env, "backup_staging_20260101_120000.tar.gz", "0123abcd"),
      commands.rehearseMigrations(env, "0123abcd", {
        backendImage: images.backendImage,
        migrateCommand: ["npx", "prisma", "migrate", "deploy"],
        migrationsDir: "prisma/migrations",
      }),
      commands.removeCopies(env),
      commands.switchRelease(env, "r20260101_120000_abcdef"),
      commands.startRelease(env),
      commands.routeTraffic(env),
      commands.retireOld(env),
      commands.routeBack(env),
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
      commands.statusReport(env, "0123abcd"),
      commands.awaitLeftovers(env, "0123abcd"),
      commands.recordRelease(env, {
        time: "t",
        env: "staging",
        action: "deploy",
        result: "success",
        release: "r20260101_120000_abcdef",
        serving: "r20260101_120000_abcdef",
        holder: "it's me",
      }),
      commands.appLogs(env, 200, "backend"),
      commands.resolveTag("ghcr.io/octo-org/qgo-cargo", "develop"),
      commands.appLogs(env, 10),
      // With tls settings the release files carry the environment's tls entries.
      ...[
        commands.switchRelease(withTls, "r20260101_120000_abcdef"),
        commands.restoreSavedRelease(withTls),
        commands.restoreBackupFiles(withTls, "backup_staging_20260101_120000.tar.gz"),
      ].map((command) => ({ ...command, step: `${command.step} (tls)` })),
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
    const login = commands.pullImages(env, images, {
      username: "u",
      password: "pa55word",
    });
    expect(login.script).not.toContain("pa55word");
    expect(login.stdin).toBe("pa55word");
  });

  it("commands sent in one round trip run in order, each in its own subshell, and stop at the first failure", () => {
    const part = (name: string, body: string) => ({
      step: name,
      description: name,
      timeoutMs: 1000,
      script: `set -euo pipefail\ncd /\ntrap 'echo "${name} done"' EXIT\n${body}\n`,
    });
    const run = (parts: ReturnType<typeof part>[]) =>
      spawnSync("bash", ["-c", commands.inOneTrip("both", parts).script], { encoding: "utf8" });
    const ok = run([
      part("first", "x=1; exit 0; echo never"),
      part("second", 'echo "x=${x:-unset} $PWD"'),
    ]);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toBe("first done\nx=unset /\nsecond done\n");
    const failed = run([part("first", "exit 7"), part("second", "echo ran")]);
    expect(failed.status).toBe(7);
    expect(failed.stdout).toBe("first done\n");
    expect(() =>
      commands.inOneTrip("x", [{ ...part("a", ""), stdin: "secret" }, part("b", "")]),
    ).toThrow(/cannot share a round trip/);
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
});

// Values are data: every builder's script is RUN (bash, in a scratch dir, with a stand-in for
// docker and curl) with hostile values in every parameter: newlines, quotes, $(), backticks, ;,
// leading dashes, spaces, control characters and unicode. Each hostile value carries commands
// that would create a file in a "pwned" directory; the builder must either refuse the value
// (UnsafeValueError, nothing run) or run with it as data. Afterwards the pwned directory must be
// empty. App and backups dirs that merely need quoting must work: the backup is made and verified.
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import type { RemoteCommand } from "../../../src/deploy/commands/index.js";
import type { EnvironmentSettings } from "../../../src/deploy/environments.js";
import { digest, envIn } from "../unit-support.js";

// No space in this one: the payloads below must be able to name it unquoted.
const pwned = mkdtempSync(join(tmpdir(), "qgo-pwned-"));
const root = mkdtempSync(join(tmpdir(), "qgo hostile 'values' $HOME "));
afterAll(() => {
  rmSync(pwned, { recursive: true, force: true });
  rmSync(root, { recursive: true, force: true });
});

/** Hostile values: each would run `touch <pwned>/<n>` if it ever became code. */
export function hostileValues(dir: string): string[] {
  const t = (n: number) => `touch ${dir}/${n}`;
  return [
    `$(${t(1)})`,
    `\`${t(2)}\``,
    `x; ${t(3)}`,
    `x\n${t(4)}`,
    `x'; ${t(5)}; echo '`,
    `x"; ${t(6)}; echo "`,
    `x && ${t(7)} #`,
    `x | ${t(8)}`,
    `\${IFS}$(${t(9)})`,
    `x\r\n${t(10)}`,
    `$'\\n'; ${t(11)}`,
    `-rf`,
    `--help`,
    `with space`,
    `ünïcødé ✓ 中文`,
    `\u001b[31mred\u001b[0m\u0007`,
    `a\u0000b`,
    `*`,
    `x\nBACKEND_IMAGE=evil@sha256:${"e".repeat(64)}`,
    `v1.2.3\nholder=mallory`,
  ];
}
const HOSTILE = hostileValues(pwned);

// Stand-ins: docker answers like a daemon with nothing running; curl like a healthy app.
const bin = join(root, "bin");
mkdirSync(bin, { recursive: true });
writeFileSync(
  join(bin, "docker"),
  [
    "#!/bin/bash",
    'printf "%q " "$@" >> "$QGO_TEST_DOCKER_LOG"; echo >> "$QGO_TEST_DOCKER_LOG"',
    'case "$1 $2" in',
    '  "compose version") echo 2.26.1;;',
    '  "info "*|"info") echo 20.10;;',
    '  "version "*) echo 20.10;;',
    '  "image inspect") echo "<no value>";;',
    "esac",
    "exit 0",
  ].join("\n"),
);
writeFileSync(join(bin, "curl"), '#!/bin/bash\necho \'{"status":"ok","version":"1.2.3"}\'\n');
for (const name of ["docker", "curl"]) chmodSync(join(bin, name), 0o755);
const dockerLog = join(root, "docker.log");

function run(command: RemoteCommand): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", ["-c", command.script], {
    input: command.stdin ?? "",
    encoding: "utf8",
    cwd: root,
    timeout: 60_000,
    env: {
      PATH: `${bin}:${process.env.PATH}`,
      HOME: root,
      QGO_TEST_DOCKER_LOG: dockerLog,
    },
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const injected = () => readdirSync(pwned);
const RELEASE = "r20260101_120000_abcdef";
const BACKUP = "backup_staging_20260101_120000.tar.gz";
const TOKEN = "0123456789abcdef01234567";
const images = { backendImage: digest("a"), frontendImage: digest("b") };
const rehearsal = {
  backendImage: images.backendImage,
  migrateCommand: ["npx", "prisma", "migrate", "deploy"],
  migrationsDir: "prisma/migrations",
};

/** An environment whose dirs exist with the files preflight wants. */
function prepared(env: EnvironmentSettings): EnvironmentSettings {
  mkdirSync(env.appDir, { recursive: true });
  mkdirSync(env.backupsDir, { recursive: true });
  writeFileSync(join(env.appDir, ".env"), "MYSQL_DATABASE=qgo\n");
  for (const file of env.composeFiles) writeFileSync(join(env.appDir, file), "services: {}\n");
  return {
    ...env,
    health: { attempts: 1, initialDelaySeconds: 1, maxDelaySeconds: 1, timeoutSeconds: 1 },
  };
}

/** Every builder, in runbook order, on one environment. */
function everyBuilder(env: EnvironmentSettings): (() => RemoteCommand)[] {
  const info = { holder: "h", commit: "c", runUrl: "u", token: TOKEN, operation: "deploy" };
  const entry = {
    time: "2026-01-01T12:00:00Z",
    env: env.name,
    action: "deploy" as const,
    result: "success" as const,
    release: RELEASE,
    serving: RELEASE,
    holder: "h",
  };
  const record = {
    id: RELEASE,
    env: env.name,
    ...images,
    version: "1.2.3",
    commit: "abc",
    createdAt: "",
  };
  const files = env.composeFiles.map((name) => ({ name, content: "services: {}\n" }));
  return [
    () => commands.acquireLock(env, info),
    () => commands.awaitLeftovers(env, "0a1b2c"),
    () => commands.preflight(env),
    () => commands.createBackup(env, BACKUP),
    () => commands.verifyBackup(env, BACKUP),
    () => commands.pruneBackups(env, BACKUP),
    () => commands.uploadRelease(env, RELEASE, files, commands.releaseEnvText(env, images, {})),
    () => commands.pullImages(env, images, { username: "deploy", password: "pw" }),
    () => commands.migrate(env, RELEASE),
    () => commands.switchRelease(env, RELEASE),
    () => commands.startRelease(env),
    () => commands.routeTraffic(env),
    () => commands.healthCheck(env, "1.2.3"),
    () => commands.retireOld(env),
    () => commands.routeBack(env),
    () => commands.composeUp(env),
    () => commands.recordRelease(env, entry, record),
    () => commands.readHistory(env),
    () => commands.readCurrentRelease(env),
    () => commands.readReleaseRecord(env, RELEASE),
    () => commands.statusReport(env, "0a1b2c"),
    () => commands.listBackups(env),
    () => commands.appLogs(env, 10, "backend"),
    () => commands.stopApp(env),
    () => commands.restoreDatabase(env, BACKUP),
    () => commands.restoreSavedRelease(env),
    () => commands.restoreBackupFiles(env, BACKUP),
    () => commands.releaseLock(env, TOKEN),
    () => commands.acquireLock(env, info),
    () => commands.forceUnlock(env, "h", true),
    () => commands.proveBackup(env, BACKUP, "0a1b2c", rehearsal),
    () =>
      commands.rehearseMigrations(env, "0a1b2c", {
        ...rehearsal,
        migrateCommand: env.migrateCommand,
        migrationsDir: env.migrationsDir,
      }),
    () => commands.removeCopies(env),
  ];
}

/** Builds and runs; a refusal is fine, any other exception is not. */
function buildAndRun(build: () => RemoteCommand): "refused" | number | null {
  let command: RemoteCommand;
  try {
    command = build();
  } catch (error) {
    if (error instanceof commands.UnsafeValueError) return "refused";
    throw error;
  }
  return run(command).status;
}

describe("hostile values in every builder's parameters", () => {
  it("as the app dir and the backups dir: refused or data; a dir that only needs quoting works in every step", () => {
    const outcomes: string[] = [];
    for (const [i, value] of HOSTILE.entries()) {
      const base = join(root, `dirs-${i}`);
      const env = {
        ...envIn(base),
        appDir: join(base, value, "app"),
        backupsDir: join(base, value, "backups"),
      };
      let usable = true;
      try {
        commands.checkEnvironmentFields(env);
      } catch {
        usable = false;
      }
      if (usable) prepared(env);
      const ran = everyBuilder(usable ? prepared(env) : env).map(buildAndRun);
      outcomes.push(`${JSON.stringify(value)}: ${ran.join(",")}`);
      if (!usable) {
        expect(
          ran.every((r) => r === "refused"),
          `${JSON.stringify(value)}: ${ran.join(",")}`,
        ).toBe(true);
        continue;
      }
      // The backup was made and verified, retention ran, and the backup is there.
      expect(ran.slice(2, 6), JSON.stringify(value)).toEqual([0, 0, 0, 0]);
      expect(existsSync(join(env.backupsDir, BACKUP)), JSON.stringify(value)).toBe(true);
    }
    expect(injected(), outcomes.join("\n")).toEqual([]);
    // Newlines, NUL and CR cannot be in a path; everything else in the list must work.
    const refused = outcomes.filter((o) => o.endsWith("refused".repeat(1)));
    expect(refused.length).toBeLessThanOrEqual(7);
  });

  it("as every other parameter of every builder: refused or data", () => {
    const env = prepared(envIn(join(root, "params")));
    const info = { holder: "h", commit: "c", runUrl: "u", token: TOKEN, operation: "deploy" };
    const entry = {
      time: "2026-01-01T12:00:00Z",
      env: "staging",
      action: "deploy" as const,
      result: "success" as const,
      release: RELEASE,
      serving: RELEASE,
      holder: "h",
    };
    const files = [{ name: "compose.yaml", content: "services: {}\n" }];
    const withEnv = (patch: (v: string) => Partial<EnvironmentSettings>) => (v: string) =>
      everyBuilder({ ...env, ...patch(v) });
    // Each parameter: how to build the commands that take it from a value.
    const parameters: Record<string, (v: string) => (() => RemoteCommand)[]> = {
      "env.name": withEnv((v) => ({ name: v })),
      "env.project": withEnv((v) => ({ project: v })),
      "env.composeFiles": withEnv((v) => ({ composeFiles: [v] })),
      "env.healthUrls": withEnv((v) => ({
        healthUrls: { backend: `http://127.0.0.1/${v}`, frontend: v },
      })),
      "env.migrateCommand": withEnv((v) => ({ migrateCommand: ["npx", v] })),
      "env.migrationsDir": withEnv((v) => ({ migrationsDir: v })),
      "release id": (v) => [
        () => commands.uploadRelease(env, v, files, "A=1\n"),
        () => commands.migrate(env, v),
        () => commands.switchRelease(env, v),
        () => commands.readReleaseRecord(env, v),
      ],
      "backup name": (v) => [
        () => commands.createBackup(env, v),
        () => commands.verifyBackup(env, v),
        () => commands.pruneBackups(env, v),
        () => commands.restoreDatabase(env, v),
        () => commands.restoreBackupFiles(env, v),
        () => commands.proveBackup(env, v, "0123abcd", rehearsal),
        () => commands.migrate(env, RELEASE, v),
      ],
      "lock info": (v) => [
        () =>
          commands.acquireLock(env, {
            ...info,
            holder: v,
            commit: v,
            runUrl: v,
            operation: v,
            backup: v,
          }),
        () => commands.forceUnlock(env, v, true),
      ],
      "lock token": (v) => [
        () => commands.acquireLock(env, { ...info, token: v }),
        () => commands.releaseLock(env, v),
        () => ({
          ...commands.preflight(env),
          script: `${commands.underLock(env, v, "preflight")}\n`,
        }),
      ],
      "step name": (v) => [
        () => ({ ...commands.preflight(env), script: `${commands.underLock(env, TOKEN, v)}\n` }),
      ],
      "operation id": (v) => [
        () => commands.awaitLeftovers(env, v),
        () => commands.statusReport(env, v),
        () => commands.proveBackup(env, BACKUP, v, rehearsal),
        () => commands.rehearseMigrations(env, v, rehearsal),
      ],
      images: (v) => [
        () => commands.pullImages(env, { ...images, backendImage: v }),
        () => commands.rehearseMigrations(env, "0123abcd", { ...rehearsal, backendImage: v }),
        () => commands.pullImages(env, { ...images, frontendImage: `${digest("b")}${v}` }),
        () =>
          commands.uploadRelease(
            env,
            RELEASE,
            files,
            commands.releaseEnvText(env, { ...images, backendImage: v }, {}),
          ),
      ],
      labels: (v) => [
        () =>
          commands.uploadRelease(
            env,
            RELEASE,
            files,
            commands.releaseEnvText(env, images, { version: v }),
          ),
        () =>
          commands.uploadRelease(
            env,
            RELEASE,
            files,
            commands.releaseEnvText(env, images, { commit: v }),
          ),
        () => commands.healthCheck(env, v),
        () => commands.recordRelease(env, { ...entry, version: v }),
        () =>
          commands.recordRelease(env, entry, {
            id: RELEASE,
            env: "staging",
            ...images,
            version: v,
            commit: "",
            createdAt: "",
          }),
      ],
      "history fields": (v) => [
        () =>
          commands.recordRelease(env, {
            ...entry,
            holder: v,
            runUrl: v,
            backup: v,
            failedStep: v,
            message: v,
          }),
        () => commands.recordRelease(env, { ...entry, release: v }),
        () => commands.recordRelease(env, { ...entry, serving: v }),
      ],
      "registry login": (v) => [
        () => commands.pullImages(env, images, { username: v, password: v }),
        () =>
          commands.resolveTag("127.0.0.1:5000/qgo", "develop", { username: "deploy", password: v }),
      ],
      "tag and repository": (v) => [
        () => commands.resolveTag(v, "develop"),
        () => commands.resolveTag("127.0.0.1:5000/qgo", v),
      ],
      "release file": (v) => [
        () => commands.uploadRelease(env, RELEASE, [{ name: v, content: v }], "A=1\n"),
        () => commands.uploadRelease(env, RELEASE, [{ name: "compose.yaml", content: v }], "A=1\n"),
      ],
      "log service": (v) => [() => commands.appLogs(env, 10, v)],
    };
    const ran: Record<string, number> = {};
    const refused: Record<string, number> = {};
    for (const [name, buildersOf] of Object.entries(parameters)) {
      for (const value of HOSTILE) {
        for (const build of buildersOf(value)) {
          const outcome = buildAndRun(build);
          if (outcome === "refused") refused[name] = (refused[name] ?? 0) + 1;
          else ran[name] = (ran[name] ?? 0) + 1;
          expect(injected(), `${name} = ${JSON.stringify(value)}`).toEqual([]);
        }
      }
    }
    // Data that has to be free text (file content, the password, the holder) ran as data;
    // names and ids were refused.
    expect(ran["release file"]).toBeGreaterThanOrEqual(HOSTILE.length);
    expect(ran["lock info"]).toBe(2 * HOSTILE.length);
    expect(ran["history fields"]).toBeGreaterThanOrEqual(HOSTILE.length);
    expect(ran["release id"] ?? 0).toBe(0);
    expect(ran["backup name"] ?? 0).toBe(0);
    expect(ran["step name"] ?? 0).toBe(0);
    expect(ran.labels ?? 0).toBe(0);
    // A hostile value written as data stays one field of one line.
    const audit = readFileSync(join(env.appDir, ".qgo-deploy/audit.log"), "utf8")
      .trim()
      .split("\n");
    for (const line of audit) expect(line).toMatch(/^\S+( [a-z_]+=\S*)+$/);
    const history = readFileSync(join(env.appDir, ".qgo-deploy/history.jsonl"), "utf8")
      .trim()
      .split("\n");
    for (const line of history) expect(() => JSON.parse(line) as unknown).not.toThrow();
  });

  it("the check itself: a builder that did not quote would be caught", () => {
    // Guard against a harness that cannot see injection: an unquoted value does create the file.
    const command: RemoteCommand = {
      step: "x",
      description: "",
      timeoutMs: 1000,
      script: `set -euo pipefail\necho ${HOSTILE[0]}\n`,
    };
    run(command);
    expect(injected()).toEqual(["1"]);
    rmSync(join(pwned, "1"));
  });
});

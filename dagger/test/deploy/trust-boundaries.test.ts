// Values are data on the VPS-in-a-box: hostile values fed through each trust boundary (a
// server's records and command output, an environment's settings, flags) are refused with
// nothing changed; a backups dir that needs quoting (quotes, $, spaces) works for a deploy and a
// restore; the deploy lock is a lease that `unlock` leaves alone while its holder's SSH
// connection lives, and `unlock --force` stops the running deploy before its next step.
import {
  chownSync,
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
import { beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, httpRequest, vpsBox } from "../vps/helpers.js";
import { freeLoopbackPort } from "../vps/system.js";
import { deploy, rollback, status, unlock } from "../../src/deploy/index.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  appliedMigrations,
  boxCredentials,
  boxEnvironment,
  createShipment,
  history,
  outcome,
  resetEnvironment,
  servedThroughFrontend,
  shipmentExists,
  stateFile,
  testCaller,
  releaseImages,
} from "./support.js";

let box: VpsBox;
let staging: EnvironmentSettings;
let production: EnvironmentSettings;
let releaseFiles: { staging: ReleaseFile[]; production: ReleaseFile[] };
let credentials: ReturnType<typeof boxCredentials>;
const lines: string[] = [];
const caller = (name: string) => testCaller(`trust-${name}`, lines);
const images = (release: "v1" | "v2") => releaseImages(box, release);
const pwned = mkdtempSync(join(tmpdir(), "qgo-pwned-box-"));
const EVIL = `evil.example/x@sha256:${"e".repeat(64)}`;

/** What must not move when an operation is refused: the release, the records, the backups. */
function snapshot(env: EnvironmentSettings, name: "staging" | "production") {
  const current = stateFile(box, name, "current");
  return {
    current: existsSync(current) ? readFileSync(current, "utf8") : "",
    history: history(box, name).length,
    backups: readdirSync(env.backupsDir).filter((f) => f.startsWith(`backup_${name}_`)).length,
    releases: readdirSync(stateFile(box, name, "releases")).length,
    lock: existsSync(stateFile(box, name, "lock")),
  };
}

beforeAll(async () => {
  box = vpsBox();
  credentials = boxCredentials(box);
  await resetEnvironment(box, "staging");
  await resetEnvironment(box, "production");
  // Production's backups go to a dir whose name needs quoting in every way a shell cares about.
  const quotedBackups = join(box.serverRoot, "root", `it's "$HOME" \`backups\` $(x)`);
  rmSync(quotedBackups, { recursive: true, force: true });
  const s = await boxEnvironment(box, "staging");
  const p = await boxEnvironment(box, "production", { backupsDir: quotedBackups });
  [staging, production] = [s.env, p.env];
  releaseFiles = { staging: s.releaseFiles, production: p.releaseFiles };
  const first = await outcome(
    deploy(
      { env: staging, releaseFiles: releaseFiles.staging, ...images("v1") },
      credentials,
      caller("first"),
    ),
  );
  if (!first.ok) throw first.error;
});

describe("paths exactly as users have them", () => {
  it("deploy, a second deploy and rollback --backup with backups in a dir named with quotes, $ and backticks", async () => {
    const deployTo = (release: "v1" | "v2", name: string) =>
      outcome(
        deploy(
          {
            env: production,
            releaseFiles: releaseFiles.production,
            ...images(release),
            approved: true,
          },
          credentials,
          caller(name),
        ),
      );
    const v1 = await deployTo("v1", "quoted-v1");
    if (!v1.ok) throw v1.error;
    const shipment = await createShipment(box, "production", "Kept by the quoted backup");
    const v2 = await deployTo("v2", "quoted-v2");
    if (!v2.ok) throw v2.error;
    const backup = v2.report.backup!;
    expect(existsSync(join(production.backupsDir, backup))).toBe(true);
    const restored = await outcome(
      rollback({ env: production, backup }, credentials, caller("quoted-restore")),
    );
    if (!restored.ok) throw restored.error;
    expect(await servedThroughFrontend(box, "production")).toMatchObject({ version: "v1-box" });
    expect(await shipmentExists(box, "production", shipment)).toBe(true);
    // The safety backup of the rollback is in the same dir, and no temporary dir is left.
    const kept = readdirSync(production.backupsDir);
    const archives = kept.filter((f) => /^backup_production_.*\.tar\.gz$/.test(f));
    expect(archives.length).toBe(3);
    // The deploys' backups were proven (the restore proof's record beside each).
    expect(kept).toEqual(expect.arrayContaining([`${v1.report.backup}.proof`, `${backup}.proof`]));
    expect(kept.filter((f) => f.startsWith("."))).toEqual([]);
  });
});

describe("an app dir named with quotes, $ and spaces", () => {
  it("deploy, deploy again and rollback --backup serve from it, with its backups beside it", async () => {
    const weird = join(box.serverRoot, "root", `qgo "quoted" it's $HOME`);
    const backupsDir = join(weird, "back ups $(x)");
    rmSync(weird, { recursive: true, force: true });
    for (const sub of ["backend/uploads", "backend/logs"]) {
      mkdirSync(join(weird, sub), { recursive: true });
      chownSync(join(weird, sub), 1000, 1000);
    }
    const backend = await freeLoopbackPort(box.listeningPorts);
    const frontend = await freeLoopbackPort([...box.listeningPorts, backend]);
    writeFileSync(join(weird, ".env"), readFileSync(join(box.stagingAppDir, ".env")), {
      mode: 0o600,
    });
    const { env, releaseFiles: files } = await boxEnvironment(box, "staging", {
      appDir: weird,
      backupsDir,
      project: "qgo-quoted",
      ports: { backend, frontend },
    });
    const docker = boxDocker(box);
    try {
      for (const release of ["v1", "v2"] as const) {
        const done = await outcome(
          deploy(
            { env, releaseFiles: files, ...images(release) },
            credentials,
            caller(`dir-${release}`),
          ),
        );
        if (!done.ok) throw done.error;
        expect(done.report.summary).toContain(`(version ${release}-box) to staging: healthy`);
      }
      // The backup the v2 deploy took first holds v1: restore it.
      const last = JSON.parse(
        readFileSync(join(weird, ".qgo-deploy", "history.jsonl"), "utf8")
          .trim()
          .split("\n")
          .at(-1)!,
      ) as { backup: string };
      const restored = await outcome(
        rollback({ env, backup: last.backup }, credentials, caller("dir-restore")),
      );
      if (!restored.ok) throw restored.error;
      const served = await httpRequest(`http://127.0.0.1:${frontend}/health`);
      expect(((await served.json()) as { version: string }).version).toBe("v1-box");
      const archives = readdirSync(backupsDir).filter((f) =>
        /^backup_staging_.*\.tar\.gz$/.test(f),
      );
      expect(archives).toHaveLength(3);
    } finally {
      const ids = (
        await docker`docker ps -aq --filter label=com.docker.compose.project=qgo-quoted`
      ).stdout.trim();
      if (ids) await docker`docker rm -f ${ids.split("\n")}`;
      const volumes = (
        await docker`docker volume ls -q --filter label=com.docker.compose.project=qgo-quoted`
      ).stdout.trim();
      if (volumes) await docker`docker volume rm ${volumes.split("\n")}`;
      const networks = (
        await docker`docker network ls -q --filter label=com.docker.compose.project=qgo-quoted`
      ).stdout.trim();
      if (networks) await docker`docker network rm ${networks.split("\n")}`;
      rmSync(weird, { recursive: true, force: true });
    }
  });
});

describe("hostile values through each trust boundary are refused, nothing changed", () => {
  it("a source server's release record (promotion): a newline in its version cannot add BACKEND_IMAGE", async () => {
    const id = readFileSync(stateFile(box, "staging", "current"), "utf8").trim();
    const recordFile = stateFile(box, "staging", join("releases", id, "release.json"));
    const original = readFileSync(recordFile, "utf8");
    const record = JSON.parse(original) as Record<string, string>;
    writeFileSync(recordFile, JSON.stringify({ ...record, version: `v1\nBACKEND_IMAGE=${EVIL}` }));
    const before = snapshot(production, "production");
    try {
      const result = await outcome(
        deploy(
          {
            env: production,
            releaseFiles: releaseFiles.production,
            promoteFrom: staging,
            approved: true,
          },
          credentials,
          caller("promote-hostile"),
        ),
      );
      expect(!result.ok && result.error.message).toMatch(
        /staging's current release is not a valid release record: version "v1\\nBACKEND_IMAGE=evil.*is not a label/,
      );
      expect(snapshot(production, "production")).toEqual(before);
      expect(readFileSync(join(production.appDir, "release.env"), "utf8")).not.toContain("evil");
    } finally {
      writeFileSync(recordFile, original);
    }
  });

  it("a server's current release id that is code: deploy refuses at preflight, nothing runs it", async () => {
    const file = stateFile(box, "staging", "current");
    const original = readFileSync(file, "utf8");
    writeFileSync(file, `$(touch ${pwned}/current)\n`);
    const before = snapshot(staging, "staging");
    try {
      const result = await outcome(
        deploy(
          { env: staging, releaseFiles: releaseFiles.staging, ...images("v2") },
          credentials,
          caller("current"),
        ),
      );
      expect(!result.ok && result.error.message).toMatch(
        /stopped at step preflight: the server's current release id "\$\(touch .*" is malformed/,
      );
      // The refused deploy records its failure; nothing else moved.
      expect({ ...snapshot(staging, "staging"), history: before.history }).toEqual(before);
      expect(history(box, "staging").at(-1)).toMatchObject({
        result: "failed",
        failedStep: "preflight",
      });
      expect(readdirSync(pwned)).toEqual([]);
    } finally {
      writeFileSync(file, original);
    }
  });

  it("a history line pointing at a record with an unpinned image: rollback --to previous refuses", async () => {
    const fake = "r20200101_000000_abcdef";
    const dir = stateFile(box, "staging", join("releases", fake));
    const historyFile = stateFile(box, "staging", "history.jsonl");
    const original = readFileSync(historyFile, "utf8");
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, "release.json"),
      JSON.stringify({
        id: fake,
        env: "staging",
        ...images("v1"),
        frontendImage: "evil:latest",
        version: "v0",
        commit: "",
      }),
    );
    writeFileSync(
      historyFile,
      `${original}${JSON.stringify({ result: "success", serving: fake, action: "deploy" })}\n`,
    );
    const before = snapshot(staging, "staging");
    try {
      const result = await outcome(
        rollback({ env: staging, toPrevious: true }, credentials, caller("history")),
      );
      expect(!result.ok && result.error.message).toMatch(
        /Rollback of staging stopped at step history: release r20200101_000000_abcdef is not a valid release record: frontendImage "evil:latest" is not a digest reference.*Nothing was changed/s,
      );
      expect(snapshot(staging, "staging")).toEqual(before);
    } finally {
      writeFileSync(historyFile, original);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a server's output with terminal escapes and a flood of lines reaches the report clean and bounded", async () => {
    const id = readFileSync(stateFile(box, "staging", "current"), "utf8").trim();
    const recordFile = stateFile(box, "staging", join("releases", id, "release.json"));
    const original = readFileSync(recordFile, "utf8");
    const flood = Array.from({ length: 5000 }, (_, i) => `line ${i}\u001b[2K\r`).join("\n");
    writeFileSync(recordFile, `${original.trim()}\u001b]0;pwned\u0007\u001b[31m\u202e\n${flood}\n`);
    try {
      const found = await outcome(status(staging, credentials, caller("status-flood")));
      if (!found.ok) throw found.error;
      const text = [found.report.summary, ...found.report.log].join("\n");
      // eslint-disable-next-line no-control-regex
      expect(text).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e]/);
      expect(found.report.summary).toMatch(/\[… \d+ lines not kept …\]/);
      expect(found.report.summary.split("\n").length).toBeLessThan(1300);
      // The end of the output (the lock line) survives the cap.
      expect(found.report.summary).toMatch(/^lock: free$/m);
    } finally {
      writeFileSync(recordFile, original);
    }
  });

  it("an environment's settings and flags with newlines are refused before any connection", async () => {
    const before = snapshot(staging, "staging");
    const flags = await outcome(
      deploy(
        {
          env: staging,
          releaseFiles: releaseFiles.staging,
          ...images("v2"),
          version: "v2\nBACKEND_IMAGE=x",
        },
        credentials,
        caller("flags"),
      ),
    );
    expect(!flags.ok && flags.error.message).toMatch(
      /--version "v2\\nBACKEND_IMAGE=x" may only hold/,
    );
    const settings = await outcome(
      deploy(
        {
          env: { ...staging, appDir: `${staging.appDir}\n/etc` },
          releaseFiles: releaseFiles.staging,
          ...images("v2"),
        },
        credentials,
        caller("settings"),
      ),
    );
    expect(!settings.ok && settings.error.message).toMatch(/appDir .* is not an absolute path/);
    expect(snapshot(staging, "staging")).toEqual(before);
  });
});

describe("the deploy lock is a lease held by the holder's SSH connection", () => {
  it("unlock leaves a running deploy's lock; unlock --force stops it before its next step; a new deploy then works", async () => {
    const pause = join(box.pauseDir, "migrate");
    writeFileSync(pause, "");
    const migrationsBefore = await appliedMigrations(box, "staging");
    let running: ReturnType<typeof outcome> | undefined;
    try {
      running = outcome(
        deploy(
          { env: staging, releaseFiles: releaseFiles.staging, ...images("v2") },
          credentials,
          caller("held"),
        ),
      );
      const deadline = Date.now() + 120_000;
      while (!existsSync(`${pause}.reached`)) {
        if (Date.now() > deadline) throw new Error("the deploy never reached migrate");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const refused = await outcome(unlock(staging, credentials, caller("unlock")));
      expect(!refused.ok && refused.error.message).toMatch(
        /The deploy lock of staging belongs to a running operation: deploy r\S+ by vitest:trust-held .*its SSH connection is alive\. The lock was left as is\..*unlock --env staging --force/s,
      );
      expect(existsSync(stateFile(box, "staging", "lock"))).toBe(true);
      const forced = await outcome(unlock(staging, credentials, caller("force"), true));
      if (!forced.ok) throw forced.error;
      expect(forced.report.summary).toMatch(/holder_connection=alive[\s\S]*lock removed/);
      expect(readFileSync(stateFile(box, "staging", "audit.log"), "utf8")).toMatch(
        /action=unlock result=success holder=vitest:trust-force forced=yes holder_connection=alive\n$/,
      );
    } finally {
      rmSync(pause, { force: true });
      rmSync(`${pause}.reached`, { force: true });
    }
    const stopped = await running;
    expect(!stopped.ok && stopped.error.message).toMatch(
      /The deploy lock of staging was removed while this operation ran \(unlock --force\).*stopped before step migrate\. Nothing after that step ran, no automatic rollback either/s,
    );
    // v1 still serves, healthy; the migration never ran.
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({
      status: "ok",
      version: "v1-box",
    });
    expect(await appliedMigrations(box, "staging")).toEqual(migrationsBefore);
    const again = await outcome(
      deploy(
        { env: staging, releaseFiles: releaseFiles.staging, ...images("v2") },
        credentials,
        caller("after"),
      ),
    );
    if (!again.ok) throw again.error;
    expect(again.report.summary).toMatch(
      /Deployed release r\S+ \(version v2-box\) to staging: healthy/,
    );
    expect(again.report.summary).toMatch(/NOTE: The operation before this one .* never ended/);
  });
});

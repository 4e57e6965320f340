// A deploying process that dies (CI run cancelled, laptop closed: SIGKILL, no cleanup) inside
// each step of a deploy and of a rollback in turn, while the step's remote command runs. The
// steps come from the operations' own dry-run plans, so a step added later is covered without
// editing this file. The box holds each step's remote bash at its start (its pause hook) until
// the client is dead, then lets it run on without the client, as a real server does. After
// each: `status` names the holder and what serves; `unlock`, then a new deploy succeeds, waits
// for what the dead client left running, and says what was interrupted; the database rows,
// the uploads and the release records are consistent.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, vpsBox } from "../vps/helpers.js";
import { deploy, rollback, status, unlock } from "../../src/deploy/index.js";
import type { OperationReport } from "../../src/deploy/operation.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  boxCredentials,
  boxEnvironment,
  createShipment,
  history,
  outcome,
  pngBytes,
  resetEnvironment,
  servedThroughFrontend,
  shipmentExists,
  startSlack,
  stateFile,
  testCaller,
  releaseImages,
} from "./support.js";

let box: VpsBox;
let env: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let credentials: ReturnType<typeof boxCredentials>;
const lines: string[] = [];
const caller = () => testCaller("interrupted", lines);
type Release = "v1" | "v2";
const images = (release: Release) => releaseImages(box, release);
/** A row and an upload written before any interruption: every iteration must keep them. */
let shipment = 0;
const upload = { name: "written before the interruptions.png", bytes: pngBytes("kept") };
const uploadPath = () => join(env.appDir, "backend", "uploads", upload.name);

/** The step names of an operation's dry-run plan, in order (without the recovery lines). */
function stepsOf(plan: OperationReport): string[] {
  return [...new Set(planLines(plan).map((line) => /^### ([a-z-]+)/.exec(line)![1]!))];
}

const planLines = (plan: OperationReport) =>
  (plan.plan ?? "")
    .split("\n")
    .filter((line) => line.startsWith("### ") && !line.includes("(on failure"));

/** Each step the plan runs together with others, mapped to its whole group in runbook order. */
function groupsOf(plan: OperationReport): Map<string, string[]> {
  const groups = new Map<string, string[]>();
  for (const line of planLines(plan)) {
    const [, step, others] =
      /^### ([a-z-]+) \((?:[^)]*; )?at the same time as ([a-z, -]+?)[;)]/.exec(line) ?? [];
    if (!step || !others) continue;
    const group = [step, ...others.split(", ")];
    const order = stepsOf(plan);
    groups.set(
      step,
      group.sort((a, b) => order.indexOf(a) - order.indexOf(b)),
    );
  }
  return groups;
}

/** Starts the operation in its own process (tsx, no npx in between: SIGKILL hits the client). */
/** A migrations dir the images lack: pending migrations count as pending (see interrupt-child). */
const UNCOUNTABLE = "prisma/not-in-the-image";

function operationProcess(request: object) {
  const child = spawn(
    process.execPath,
    [
      "--import",
      "tsx",
      "test/deploy/interrupt-child.ts",
      join(box.stateDir, "box.json"),
      JSON.stringify(request),
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  const output: string[] = [];
  child.stdout.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  child.stderr.on("data", (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<NodeJS.Signals | null>((resolve) =>
    child.on("exit", (_code, signal) => resolve(signal)),
  );
  return { child, output, exited };
}

/**
 * Runs the operation in its own process (tsx, no npx in between, so SIGKILL hits the client
 * itself), holds `step`'s remote command at its start, kills the client, then lets it run on.
 */
async function killedInside(step: string, request: object): Promise<void> {
  const pause = join(box.pauseDir, step);
  writeFileSync(pause, "");
  const { child, output, exited } = operationProcess(request);
  try {
    const deadline = Date.now() + 120_000;
    while (!existsSync(`${pause}.reached`)) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`the operation never reached step ${step}:\n${output.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");
  } finally {
    rmSync(pause, { force: true });
    rmSync(`${pause}.reached`, { force: true });
  }
  // The step's remote command goes on without its client (the hook polls every 50 ms).
  await new Promise((resolve) => setTimeout(resolve, 500));
}

/** What must hold after any interruption and recovery. */
async function consistent(serving: Release): Promise<void> {
  expect((await servedThroughFrontend(box, "staging")).version).toBe(`${serving}-box`);
  expect(await shipmentExists(box, "staging", shipment)).toBe(true);
  expect(readFileSync(uploadPath())).toEqual(upload.bytes);
  const current = readFileSync(stateFile(box, "staging", "current"), "utf8").trim();
  const record = JSON.parse(
    readFileSync(stateFile(box, "staging", join("releases", current, "release.json")), "utf8"),
  ) as { version: string };
  expect(record.version).toBe(`${serving}-box`);
  expect(history(box, "staging").at(-1)).toMatchObject({ result: "success", serving: current });
}

/** Where the next operation says the dead one was: steps run together are named together. */
const interruptedIn = (step: string, groups: Map<string, string[]>) => {
  const group = groups.get(step);
  return group
    ? `steps ${group.join(" and ")} \\(run together\\), before anything live changed`
    : `step ${step}`;
};

/** status after the kill, unlock, then a deploy that must succeed and serve `release`. */
async function recover(
  step: string,
  release: Release,
  groups: Map<string, string[]>,
): Promise<void> {
  const found = await outcome(status(env, credentials, caller()));
  if (!found.ok) throw found.error;
  expect(found.report.summary).toMatch(/^release: (r\d{8}_\d{6}_[0-9a-f]{6}|none)$/m);
  if (step !== "unlock") expect(found.report.summary).toContain("holder=vitest:interrupted");
  const unlocked = await outcome(unlock(env, credentials, caller()));
  if (!unlocked.ok) throw unlocked.error;
  const again = await outcome(
    deploy({ env, releaseFiles, ...images(release) }, credentials, caller()),
  );
  if (!again.ok) throw again.error;
  if (step !== "unlock")
    expect(again.report.summary).toMatch(
      new RegExp(
        `NOTE: The operation before this one .* never ended: it was interrupted in ${interruptedIn(step, groups)}`,
      ),
    );
  await consistent(release);
}

beforeAll(async () => {
  box = vpsBox();
  credentials = boxCredentials(box);
  await resetEnvironment(box, "staging");
  ({ env, releaseFiles } = await boxEnvironment(box, "staging"));
  const first = await outcome(
    deploy({ env, releaseFiles, ...images("v1") }, credentials, caller()),
  );
  if (!first.ok) throw first.error;
  shipment = await createShipment(box, "staging", "Written before the interruptions");
  writeFileSync(uploadPath(), upload.bytes);
});

const planOf = async (operation: "deploy" | "rollback") => {
  const box = vpsBox();
  const { env, releaseFiles } = await boxEnvironment(box, "staging");
  const credentials = boxCredentials(box);
  const plan =
    operation === "deploy"
      ? await deploy(
          {
            env,
            releaseFiles,
            backendImage: box.images.v2.backend,
            frontendImage: box.images.v2.frontend,
            dryRun: true,
          },
          credentials,
          testCaller("interrupted-plan", lines),
        )
      : await rollback(
          { env, toPrevious: true, dryRun: true },
          credentials,
          testCaller("interrupted-plan", lines),
        );
  return { steps: stepsOf(plan), groups: groupsOf(plan) };
};

describe("a deploy client killed inside each step of a deploy", async () => {
  const { steps, groups } = await planOf("deploy");
  let next: Release = "v2";
  it.each(steps)("killed in %s: status, unlock and a new deploy recover it", async (step) => {
    // The box's releases ship the same migrations, so the deploy finds none pending and skips
    // the rehearsal and migrate; counted as pending (uncountable), both run. Migrate is killed
    // without the rehearsal before it. With none pending the proof goes on beside the switch,
    // so the deploy is killed in whichever step it has reached: counted as pending, the
    // deploy waits for the proof, and is killed in it.
    const pending = ["restore-proof", "rehearsal", "migrate"].includes(step);
    await killedInside(step, {
      operation: "deploy",
      release: next,
      ...(pending ? { migrationsDir: UNCOUNTABLE } : {}),
      ...(step === "migrate" ? { rehearseMigrations: false } : {}),
    });
    // The new deploy goes back to the release that served before (the dead one may have switched).
    const serving = (await servedThroughFrontend(box, "staging").catch(() => ({ version: "" })))
      .version;
    const release: Release = serving === "v2-box" ? "v1" : "v2";
    await recover(step, release, groups);
    next = release === "v1" ? "v2" : "v1";
  });
});

describe("a deploy client killed inside each step of a rollback", async () => {
  const { steps, groups } = await planOf("rollback");
  it.each(steps)("killed in %s: status, unlock and a new deploy recover it", async (step) => {
    await killedInside(step, { operation: "rollback", toPrevious: true });
    const serving = (await servedThroughFrontend(box, "staging").catch(() => ({ version: "" })))
      .version;
    await recover(step, serving === "v2-box" ? "v1" : "v2", groups);
  });
});

describe("what a dead client left running", () => {
  it("a migration still running is waited for before the next deploy touches the database", async () => {
    const before = (await servedThroughFrontend(box, "staging")).version;
    const release: Release = before === "v2-box" ? "v1" : "v2";
    // A slow migration: the client dies while its one-off container runs.
    const slow = ["sh", "-c", "sleep 8 && node scripts/apply-migrations.mjs"];
    const { child, output, exited } = operationProcess({
      operation: "deploy",
      release,
      migrateCommand: slow,
      rehearseMigrations: false,
      migrationsDir: UNCOUNTABLE,
    });
    const docker = boxDocker(box);
    const oneOff = async () =>
      (
        await docker`docker ps -q --filter label=com.docker.compose.project=qgo-staging --filter label=com.docker.compose.oneoff=True`
      ).stdout.trim();
    const deadline = Date.now() + 120_000;
    while (!(await oneOff())) {
      if (child.exitCode !== null || Date.now() > deadline)
        throw new Error(`no migration container appeared:\n${output.join("")}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    child.kill("SIGKILL");
    expect(await exited).toBe("SIGKILL");

    const found = await outcome(status(env, credentials, caller()));
    if (!found.ok) throw found.error;
    // The dead client's processes (the compose client may still wait on it) and the container.
    expect(found.report.summary).toMatch(
      /running:\n(?: {2}process \d+ of step migrate: .*\n)* {2}container \w+ qgo-staging-backend-run-/,
    );
    expect(found.report.summary).toMatch(
      /operation: deploy r\S+ by vitest:interrupted, in step migrate/,
    );
    const unlocked = await outcome(unlock(env, credentials, caller()));
    if (!unlocked.ok) throw unlocked.error;
    const slack = await startSlack();
    const again = await outcome(
      deploy(
        { env, releaseFiles, ...images(release) },
        { ...credentials, slackWebhook: slack.url },
        caller(),
      ),
    ).finally(() => slack.server.close());
    if (!again.ok) throw again.error;
    // The pull (beside preflight) counted the pending migrations only once the interrupted
    // migration had ended and applied them all: none pending, so no rehearsal, no migrate.
    expect(again.report.summary).toMatch(/migration rehearsal skipped: no migration pending/);
    expect(again.report.steps.map((s) => s.step)).not.toContain("migrate");
    // Slack gets the same notes: what was interrupted, and what was waited for.
    expect(slack.messages.at(-1)).toMatch(
      /NOTE: The operation before this one \(deploy r\S+, by vitest:interrupted, .*interrupted in step migrate/,
    );
    expect(slack.messages.at(-1)).toMatch(
      /it waited for what an interrupted operation had left running/,
    );
    // It waited for the migration before its backup, and said so.
    expect(again.report.summary).toMatch(
      /it waited for what an interrupted operation had left running: .*container \w+ qgo-staging-backend-run-/,
    );
    const steps = again.report.steps.map((s) => s.step);
    // (The wait is preflight's first part, in its round trip.)
    expect(steps.indexOf("preflight")).toBeLessThan(steps.indexOf("backup"));
    expect(await oneOff()).toBe("");
    await consistent(release);
  });
});

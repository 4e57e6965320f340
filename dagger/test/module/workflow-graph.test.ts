// The workflow graph, followed the way GitHub runs it: from each trigger through reusable
// workflows (`uses: ./.github/workflows/…` with their `with:` inputs) to every dagger step.
// - The production gate holds on any GitHub plan: nothing a push, a pull request or any other
//   automatic trigger starts can deploy to production or pass --approved; only a person's
//   workflow_dispatch can.
// - Nothing in ci.yml waits for a person, so a pending approval never holds back the next push.
// - Job timeouts cover the module's own worst case, so GitHub never stops a deploy mid-rollback.
// - People can operate from GitHub: rollback, status and unlock are dispatchable per environment.
import { describe, expect, it } from "vitest";

import { scanModule } from "../standin/introspect.js";
import { operationOf, parseDaggerArgv } from "../github/dagger-cli.js";
import { condition, substitute, type Context } from "../github/expressions.js";
import {
  intendedWords,
  loadWorkflows,
  stepEnv,
  type Job,
  type Workflow,
} from "../github/workflows.js";
import * as commands from "../../src/deploy/commands/index.js";
import { resolveEnvironment } from "../../src/deploy/environments.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO_ROOT } from "../standin/engine.js";

const workflows = loadWorkflows();
const scanned = await scanModule();
const ENVIRONMENTS = ["staging", "production"];

interface Reached {
  file: string;
  jobName: string;
  job: Job;
  workflow: Workflow;
  context: Context;
}

/** Every job a trigger can start, with reusable workflows followed and their inputs evaluated. */
function reachedFrom(
  file: string,
  event: string,
  ref: string,
  inputs: Record<string, string> = {},
): Reached[] {
  const workflow = workflows.get(file)!;
  const github = {
    event_name: event,
    ref,
    sha: "0".repeat(40),
    actor: "octo-cat",
    repository: "o/r",
    server_url: "https://github.com",
    run_id: "1",
    ref_name: ref.split("/").pop()!,
  };
  const context: Context = {
    github,
    inputs,
    secrets: {},
    needs: { ci: { outputs: { release: "BACKEND_IMAGE=x FRONTEND_IMAGE=y" } } },
    steps: {},
  };
  return Object.entries(workflow.jobs).flatMap(([jobName, job]) => {
    if (!condition(job.if, context)) return [];
    if (job.uses?.startsWith("./.github/workflows/")) {
      const called = job.uses.slice("./.github/workflows/".length);
      const calledInputs = Object.fromEntries(
        Object.entries(job.with ?? {}).map(([k, v]) => [k, substitute(String(v), context)]),
      );
      return reachedFrom(called, event, ref, calledInputs);
    }
    return [{ file, jobName, job, workflow, context }];
  });
}

/** The dagger functions a reached job calls, with the values the CLI would pass. */
function daggerCalls(reached: Reached) {
  return (reached.job.steps ?? [])
    .filter((step) => step.uses?.startsWith("dagger/"))
    .map((step) => {
      const env = stepEnv(reached.workflow, reached.job, step, reached.context);
      const parsed = parseDaggerArgv(
        ["call", ...intendedWords(String(step.with?.args ?? ""), env, reached.context)],
        scanned,
      );
      return operationOf(parsed, scanned, {
        ...env,
        DEPLOY_SSH_KEY: "k",
        GITHUB_TOKEN: "t",
        SLACK_WEBHOOK_URL: "",
      });
    });
}

const automaticTriggers = [...workflows].flatMap(([file, workflow]) =>
  Object.keys(workflow.on)
    .filter((event) => event !== "workflow_dispatch" && event !== "workflow_call")
    .flatMap((event) =>
      (event === "pull_request"
        ? ["refs/pull/1/merge"]
        : ["refs/heads/main", "refs/heads/develop"]
      ).map((ref) => ({ file, event, ref })),
    ),
);

describe("the production gate holds on any GitHub plan", () => {
  it("there are automatic triggers to check (push, pull_request)", () => {
    expect(automaticTriggers.map((t) => t.event)).toEqual(
      expect.arrayContaining(["push", "pull_request"]),
    );
  });

  it("nothing a push or pull request starts runs in the production environment, deploys to production or passes --approved", () => {
    const problems: string[] = [];
    for (const { file, event, ref } of automaticTriggers) {
      for (const reached of reachedFrom(file, event, ref)) {
        const where = `${event} ${ref} -> ${reached.file} ${reached.jobName}`;
        const environment = substitute(String(reached.job.environment ?? ""), reached.context);
        if (environment === "production")
          problems.push(`${where} runs in the production environment`);
        for (const call of daggerCalls(reached)) {
          if (["deploy", "rollback", "unlock"].includes(call.fn) && call.args.env === "production")
            problems.push(`${where}: ${call.fn} --env production`);
          if (call.args.approved === true) problems.push(`${where}: ${call.fn} --approved`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("production's settings require the approval, so a deploy without --approved is refused by the module", () => {
    const production = JSON.parse(
      readFileSync(join(REPO_ROOT, "deploy/environments/production.json"), "utf8"),
    ) as { approvalRequired: boolean };
    expect(production.approvalRequired).toBe(true);
  });

  it("a person's dispatch of deploy.yml for production passes --approved", () => {
    const reached = reachedFrom("deploy.yml", "workflow_dispatch", "refs/heads/main", {
      environment: "production",
      release: "x",
    });
    const deploy = reached.flatMap(daggerCalls).find((c) => c.fn === "deploy")!;
    expect(deploy.args).toMatchObject({ env: "production", approved: true });
  });
});

describe("operating from GitHub", () => {
  it.each([
    ["deploy.yml", "deploy"],
    ["rollback.yml", "rollback"],
    ["status.yml", "status"],
    ["unlock.yml", "unlock"],
  ])(
    "%s is dispatchable per environment, runs in that GitHub environment and calls %s",
    (file, fn) => {
      const on = workflows.get(file)?.on;
      expect(on?.workflow_dispatch?.inputs?.environment?.options).toEqual(ENVIRONMENTS);
      for (const environment of ENVIRONMENTS) {
        const reached = reachedFrom(file, "workflow_dispatch", "refs/heads/main", {
          environment,
          release: "x",
          backup: "",
        });
        expect(reached.map((r) => substitute(String(r.job.environment), r.context))).toEqual([
          environment,
        ]);
        const calls = reached.flatMap(daggerCalls);
        expect(calls.map((c) => c.fn)).toContain(fn);
        for (const call of calls) expect(call.args.env).toBe(environment);
      }
    },
  );

  it("rollback.yml rolls back to the previous release when no backup is named, else to that backup", () => {
    const call = (backup: string) =>
      reachedFrom("rollback.yml", "workflow_dispatch", "refs/heads/main", {
        environment: "staging",
        backup,
      }).flatMap(daggerCalls)[0]!;
    expect(call("").args).toMatchObject({ to: "previous", backup: "" });
    expect(call("backup_staging_20261201_120000.tar.gz").args).toMatchObject({
      to: "",
      backup: "backup_staging_20261201_120000.tar.gz",
    });
  });

  it("deploys, rollbacks and unlocks of one environment never run at once, and a running one is never cancelled", () => {
    for (const file of ["deploy.yml", "rollback.yml", "unlock.yml"]) {
      const job = Object.values(workflows.get(file)!.jobs)[0]!;
      expect(job.concurrency, file).toEqual({
        group: "deploy-${{ inputs.environment }}",
        "cancel-in-progress": false,
      });
    }
  });
});

describe("nothing holds back the next push's lint and tests", () => {
  it("ci.yml's concurrency cancels only superseded pull-request runs; two pushes never share a group", () => {
    const ci = workflows.get("ci.yml")!;
    const group = (event: string, runId: string) =>
      substitute(String(ci.concurrency?.group), {
        github: { event_name: event, ref: "refs/heads/develop", run_id: runId },
      });
    expect(group("push", "1")).not.toBe(group("push", "2"));
    expect(group("pull_request", "1")).toBe(group("pull_request", "2"));
  });

  it("no job that a push starts in ci.yml waits for a person: none runs in the production environment", () => {
    for (const reached of reachedFrom("ci.yml", "push", "refs/heads/main")) {
      expect(substitute(String(reached.job.environment ?? ""), reached.context)).not.toBe(
        "production",
      );
    }
  });
});

describe("job timeouts", () => {
  const env = resolveEnvironment(
    "production",
    readFileSync(join(REPO_ROOT, "deploy/environments/production.json"), "utf8"),
    { host: "h" },
  );
  const images = {
    backendImage: `r/b@sha256:${"a".repeat(64)}`,
    frontendImage: `r/f@sha256:${"b".repeat(64)}`,
  };
  const id = "r20260101_000000_abcdef";
  const backup = "backup_production_20260101_000000.tar.gz";
  const entry = {
    time: "t",
    env: "production",
    action: "deploy",
    result: "success",
    release: id,
    serving: id,
    holder: "x",
  } as const;
  // Every remote step of a deploy and of its automatic rollback, each at its own time limit.
  const worstCase = [
    commands.acquireLock(env, { token: "0123456789abcdef", holder: "x", operation: "o" } as never),
    commands.awaitLeftovers(env, "0"),
    commands.preflight(env),
    commands.createBackup(env, backup),
    commands.pruneBackups(env, backup),
    commands.uploadRelease(env, id, [], "X=1\n"),
    commands.pullImages(env, images, { username: "u", password: "p" }),
    commands.migrate(env, id),
    commands.switchRelease(env, id),
    commands.composeUp(env),
    commands.healthCheck(env),
    commands.recordRelease(env, entry),
    commands.obtainCertificates(env),
    commands.restoreSavedRelease(env),
    commands.stopApp(env),
    commands.restoreDatabase(env, backup),
    commands.restoreBackupFiles(env, backup),
    commands.composeUp(env),
    commands.healthCheck(env),
    commands.recordRelease(env, entry),
    commands.releaseLock(env, "0123456789abcdef"),
  ].reduce((sum, command) => sum + command.timeoutMs, 0);
  // Starting the engine and loading the module on a fresh runner.
  const engineStartMinutes = 15;

  it.each(["deploy.yml", "rollback.yml"])(
    "%s gives its job at least the module's worst case for the operation and its automatic rollback",
    (file) => {
      const job = Object.values(workflows.get(file)!.jobs)[0]!;
      console.log(
        `${file}: worst case ${(worstCase / 60_000).toFixed(1)} min + ${engineStartMinutes} min engine start; timeout-minutes ${job["timeout-minutes"]}`,
      );
      expect(job["timeout-minutes"]).toBeGreaterThanOrEqual(
        Math.ceil(worstCase / 60_000) + engineStartMinutes,
      );
    },
  );

  it("every job has a timeout", () => {
    for (const [file, workflow] of workflows) {
      for (const [name, job] of Object.entries(workflow.jobs)) {
        if (!job.uses) expect(job["timeout-minutes"], `${file} ${name}`).toBeGreaterThan(0);
      }
    }
  });
});

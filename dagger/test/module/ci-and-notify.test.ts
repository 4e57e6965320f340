// Recorded chains of ci and notify, called through the SDK entrypoint against the stand-in engine:
// ci asks for lint, tests and both images at once; notify posts to an HTTPS stand-in of Slack's
// webhook with the module's one Slack client, every call, and never shows the URL.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import type { CallResult } from "../standin/engine.js";
import { evaluated, evaluationRunning, stepsNamed } from "../standin/chains.js";
import { startSlackStandIn, type SlackStandIn } from "../pipeline/slack-standin.js";
import { ensureTestCa } from "../vps/test-ca.js";
import { everyQueryValid, expectSuccess, useStandIn } from "./fixture.js";

const fixture = useStandIn();

describe("ci", () => {
  let result: CallResult;
  beforeAll(async () => {
    // Answers take 100 ms, so requests the module makes in parallel are seen overlapping.
    fixture.engine.setLatency(100);
    fixture.engine.respond((e) =>
      e.leaf.field === "stdout"
        ? " Test Files  2 passed (2)\n      Tests  9 passed (9)\n"
        : undefined,
    );
    result = await fixture.call("ci", { gitCommit: "0123abcdef", appVersion: "1.4.0" });
    expectSuccess(result);
  });

  it("runs lint, typecheck, the backend tests (with MySQL) and the frontend tests", () => {
    for (const command of [
      ["npm", "run", "lint"],
      ["npm", "run", "typecheck"],
      ["npm", "test", "-w", "backend"],
      ["npm", "test", "-w", "frontend"],
    ]) {
      expect(evaluationRunning(result, "stdout", command)).toBeDefined();
    }
    const backend = evaluationRunning(result, "stdout", ["npm", "test", "-w", "backend"]).chain;
    expect(stepsNamed(backend, "withServiceBinding").map((s) => s.args.alias)).toEqual(["mysql"]);
  });

  it("builds both images (sync) with the commit and version it was given", () => {
    const synced = evaluated(result, "sync");
    const dockerfiles = synced
      .map((e) => stepsNamed(e.chain, "dockerBuild")[0]?.args.dockerfile)
      .sort();
    expect(dockerfiles).toEqual(["backend/Dockerfile", "frontend/Dockerfile"]);
    for (const sync of synced) {
      const args = Object.fromEntries(
        (
          stepsNamed(sync.chain, "dockerBuild")[0]!.args.buildArgs as {
            name: string;
            value: string;
          }[]
        ).map((a) => [a.name, a.value]),
      );
      expect(args).toMatchObject({ GIT_COMMIT: "0123abcdef", APP_VERSION: "1.4.0" });
    }
  });

  it("requests lint, tests and builds in parallel, not one after the other", () => {
    // Four execs and two builds: at least lint, typecheck, both test runs and both builds overlap.
    expect(result.maxInFlight).toBeGreaterThanOrEqual(4);
  });

  it("returns one summary naming every part", () => {
    const summary = String(result.returnValue);
    for (const part of [
      "lint: ok",
      "typecheck: ok",
      "backend tests: ok",
      "frontend tests: ok",
      "build: ok",
    ]) {
      expect(summary).toContain(part);
    }
  });
});

describe("notify", () => {
  let slack: SlackStandIn;
  let caDir: string;
  let webhookId: string;
  let first: CallResult;

  beforeAll(async () => {
    // An HTTPS stand-in of Slack's webhook; the module process trusts its CA as a machine
    // trusts a company CA (NODE_EXTRA_CA_CERTS), nothing in the module changes.
    caDir = mkdtempSync(join(tmpdir(), "qgo-notify-ca-"));
    slack = await startSlackStandIn(caDir);
    process.env.NODE_EXTRA_CA_CERTS = ensureTestCa(caDir).caFile;
    webhookId = fixture.engine.secret("env://SLACK_WEBHOOK_URL", slack.url);
    first = await fixture.call("notify", { webhook: webhookId, message: "CI failed on main" });
    expectSuccess(first);
  });

  afterAll(async () => {
    delete process.env.NODE_EXTRA_CA_CERTS;
    await slack?.stop();
    rmSync(caDir, { recursive: true, force: true });
  });

  it("posts the message as Slack's JSON to the webhook and says so, without the URL", () => {
    expect(slack.received).toContainEqual({
      path: new URL(slack.url).pathname,
      body: JSON.stringify({ text: "CI failed on main" }),
    });
    expect(first.returnValue).toBe("Slack notified (HTTP 200).\n");
    expect(first.output).not.toContain(slack.url);
    // No container: the module posts with the one Slack client the deploy core uses too.
    expect(evaluated(first, "stdout")).toEqual([]);
  });

  it("every call posts (never cached, nothing replayed)", async () => {
    const before = slack.received.length;
    expectSuccess(
      await fixture.call("notify", { webhook: webhookId, message: "CI failed on main" }),
    );
    expect(slack.received.length).toBe(before + 1);
  });

  it("a webhook that is not https://, or a post Slack refuses, fails with why and never the URL", async () => {
    const plain = fixture.engine.secret(
      "env://PLAIN_HOOK",
      "http://127.0.0.1:9/services/secret-path",
    );
    const refused = await fixture.call("notify", { webhook: plain, message: "x" });
    expect(refused.error).toMatch(/^notify failed: the webhook is not an https:\/\/ URL/);
    const gone = fixture.engine.secret(
      "env://GONE_HOOK",
      `${new URL(slack.url).origin}/nowhere/secret-path`,
    );
    slack.answer = 404;
    const answered = await fixture.call("notify", { webhook: gone, message: "x" });
    slack.answer = 200;
    expect(answered.error).toMatch(/^notify failed: Slack answered HTTP 404/);
    for (const result of [refused, answered])
      expect(`${result.error} ${result.output}`).not.toContain("secret-path");
  });

  it("refuses an empty message before posting anything", async () => {
    const before = slack.received.length;
    const empty = await fixture.call("notify", { webhook: webhookId, message: "  " });
    expect(empty.error).toContain("--message is empty");
    expect(slack.received.length).toBe(before);
  });
});

everyQueryValid(fixture);

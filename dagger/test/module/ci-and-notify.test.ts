// Recorded chains of ci and notify, called through the SDK entrypoint against the stand-in engine:
// ci asks for lint, tests and both images at once; notify hands the webhook over only as a Secret
// and changes its exec input on every call so the engine can never replay an earlier post.
import { beforeAll, describe, expect, it } from "vitest";

import type { CallResult } from "../standin/engine.js";
import { evaluated, evaluationRunning, execs, refArg, stepsNamed } from "../standin/chains.js";
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
  const webhook = "https://hooks.slack.com/services/T0000/B0000/standin-secret-path";
  let webhookId: string;
  let first: CallResult;

  beforeAll(async () => {
    webhookId = fixture.engine.secret("env://SLACK_WEBHOOK_URL", webhook);
    first = await fixture.call("notify", { webhook: webhookId, message: "CI failed on main" });
    expectSuccess(first);
  });

  it("posts from a Node container that gets the webhook only as a secret variable and the message as plain text", () => {
    const post = evaluated(first, "stdout");
    expect(post).toHaveLength(1);
    const chain = post[0]!.chain;
    expect(stepsNamed(chain, "from")[0]!.args.address).toBe("node:22-alpine");
    const secret = stepsNamed(chain, "withSecretVariable");
    expect(secret.map((s) => s.args.name)).toEqual(["SLACK_WEBHOOK_URL"]);
    expect(refArg(secret[0], "secret").ref).toBe(webhookId);
    expect(
      stepsNamed(chain, "withEnvVariable").find((s) => s.args.name === "SLACK_MESSAGE")?.args.value,
    ).toBe("CI failed on main");
    expect(execs(chain)).toHaveLength(1);
    expect(execs(chain)[0]!.slice(0, 3)).toEqual(["node", "--input-type=module", "-e"]);
  });

  it("never reads the webhook: its plaintext appears in no query", () => {
    expect(evaluated(first, "plaintext")).toEqual([]);
    for (const query of first.queries) expect(query.query).not.toContain("standin-secret-path");
  });

  it("gives every call a different exec input, so a cached post is never replayed", async () => {
    const second = await fixture.call("notify", {
      webhook: webhookId,
      message: "CI failed on main",
    });
    const stamp = (r: CallResult) =>
      stepsNamed(evaluated(r, "stdout")[0]!.chain, "withEnvVariable").find(
        (s) => s.args.name === "NOTIFY_REQUESTED_AT",
      )?.args.value;
    expect(stamp(first)).toEqual(expect.any(String));
    expect(stamp(second)).not.toBe(stamp(first));
  });

  it("refuses an empty message before starting anything", async () => {
    const empty = await fixture.call("notify", { webhook: webhookId, message: "  " });
    expect(empty.error).toContain("--message is empty");
    expect(evaluated(empty, "stdout")).toEqual([]);
  });
});

everyQueryValid(fixture);

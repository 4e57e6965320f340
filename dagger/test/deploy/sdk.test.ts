// `deploy` and `rollback` driven through the Dagger SDK's entrypoint (a fresh module process
// per call, as the engine runs it) against the module tests' stand-in engine, with the real
// VPS-in-a-box as the server. The stand-in answers what the engine would (the repository's
// files for `source.file(...).contents`, the plaintext of the Secrets the CLI would make from
// env://); the SSH work, the backup, the migration and the health checks are real.
// What this does not prove: that the module loads inside the real engine's runtime container.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { vpsBox } from "../vps/helpers.js";
import { REPO_ROOT, StandInEngine, type CallResult } from "../standin/engine.js";
import { answerRepositoryFiles } from "../module/fixture.js";
import { deploy } from "../../src/deploy/deploy.js";
import {
  boxCredentials,
  boxEnvironment,
  boxMigrateCommand,
  createShipment,
  history,
  outcome,
  recordLog,
  resetEnvironment,
  secretLeaks,
  servedThroughFrontend,
  shipmentExists,
  startSlack,
  testCaller,
} from "./support.js";

let box: VpsBox;
let engine: StandInEngine;
let slack: Awaited<ReturnType<typeof startSlack>>;
let credentials: ReturnType<typeof boxCredentials>;
const outputs: string[] = [];

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  engine = await StandInEngine.start();
  answerRepositoryFiles(engine);
});

afterAll(async () => {
  slack?.server.close();
  await engine?.stop();
});

/** `dagger call <fn> --arg ...`: construct Qgo with the source dir, then call the function. */
let parent: Record<string, unknown> | undefined;
async function daggerCall(fn: string, args: Record<string, unknown>): Promise<CallResult> {
  if (!parent) {
    // The engine constructs Qgo (with the contextual source dir) once and reuses its state.
    const source = engine.hostDirectory(REPO_ROOT, ["**/node_modules", ".git"]);
    const constructed = await engine.call({ parentName: "Qgo", fnName: "", args: { source } });
    if (constructed.error !== undefined) throw new Error(`constructor failed: ${constructed.error}\n${constructed.output}`);
    parent = constructed.returnValue as Record<string, unknown>;
  }
  const result = await engine.call({
    parentName: "Qgo",
    fnName: fn,
    parent,
    args,
    timeoutMs: 240_000,
  });
  outputs.push(result.output, result.error ?? "", JSON.stringify(result.returnValue ?? ""));
  expect(result.invalidQueries).toEqual([]);
  return result;
}

function connectionArgs() {
  return {
    env: "staging",
    sshKey: engine.secret("env://DEPLOY_SSH_KEY", credentials.privateKey),
    knownHosts: box.knownHostsLine,
    host: box.sshHost,
    sshPort: box.sshPort,
    appDir: box.stagingAppDir,
    backupsDir: box.backupsDir,
    backendPort: box.ports.staging.backend,
    frontendPort: box.ports.staging.frontend,
    healthAttempts: 5,
    slackWebhook: engine.secret("env://SLACK_WEBHOOK_URL", credentials.slackWebhook!),
    holder: "sdk-test",
  };
}

describe("deploy and rollback through the Dagger SDK entrypoint", () => {
  let shipment = 0;

  it("dagger call deploy --release <publish output> deploys v2 over v1", async () => {
    await resetEnvironment(box, "staging");
    const { env, releaseFiles } = await boxEnvironment(box, "staging");
    const first = await outcome(deploy({ env, releaseFiles, backendImage: box.images.v1.backend, frontendImage: box.images.v1.frontend }, credentials, testCaller("sdk", [])));
    if (!first.ok) throw first.error;
    shipment = await createShipment(box, "staging", "Before the SDK deploy");

    const result = await daggerCall("deploy", {
      ...connectionArgs(),
      release: `BACKEND_IMAGE=${box.images.v2.backend}\nFRONTEND_IMAGE=${box.images.v2.frontend}\n`,
      migrateCommand: boxMigrateCommand,
      registryPassword: engine.secret("env://GITHUB_TOKEN", credentials.registryPassword),
      registryUsername: "qgo-ci",
      runUrl: "https://ci.example.invalid/runs/sdk",
    });
    expect(result.error, result.output).toBeUndefined();
    expect(String(result.returnValue)).toMatch(/Deployed release r\S+ \(version v2-box\) to staging: healthy/);
    expect(String(result.returnValue)).toMatch(/total [\d.]+ s, \d+ SSH round trips/);
    // Progress streamed by the module process, step by step.
    expect(result.output).toMatch(/==> \[backup\][\s\S]*==> \[migrate\][\s\S]*==> \[health\]/);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({ status: "ok", version: "v2-box" });
    expect(history(box, "staging").at(-1)).toMatchObject({ holder: "sdk-test", runUrl: "https://ci.example.invalid/runs/sdk", version: "v2-box" });
  });

  it("dagger call rollback --to previous puts v1 back; a bad --backup fails the call clearly", async () => {
    const bad = await daggerCall("rollback", { ...connectionArgs(), backup: "../x" });
    expect(bad.error).toMatch(/Bad backup name "\.\.\/x": give only the file name \(no path parts\)/);

    const result = await daggerCall("rollback", { ...connectionArgs(), to: "previous", runUrl: "https://ci.example.invalid/runs/sdk" });
    expect(result.error, result.output).toBeUndefined();
    expect(String(result.returnValue)).toMatch(/Rolled staging back to release r\S+ \(version v1-box\): healthy/);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({ status: "ok", version: "v1-box" });
    expect(await shipmentExists(box, "staging", shipment)).toBe(true);
    expect(slack.messages.some((m) => m.includes("Rolled staging back"))).toBe(true);
  });

  it("dagger call deploy-summary renders the deploy run's record from the server as Markdown for $GITHUB_STEP_SUMMARY", async () => {
    const { env, sshKey, knownHosts, host, sshPort, appDir } = connectionArgs();
    const result = await daggerCall("deploySummary", {
      ...{ env, sshKey, knownHosts, host, sshPort, appDir },
      runUrl: "https://ci.example.invalid/runs/sdk",
      outcome: "success",
    });
    expect(result.error, result.output).toBeUndefined();
    const file = engine.lookup(String(result.returnValue))!.chain.find((step) => step.field === "withNewFile")!;
    const markdown = String(file.args.contents);
    outputs.push(markdown);
    expect(markdown).toContain("### Deploy ✅ succeeded");
    expect(markdown).toContain("### Rollback ✅ succeeded");
    expect(markdown).toMatch(/\| `migrate` \| [\d.]+ s \| ok \|/);
    expect(markdown).toMatch(/\| Backup \| `backup_staging_\d{8}_\d{6}\.tar\.gz` \|/);
    expect(markdown).toContain("lock: free");
  });

  it("the module processes printed no secret bytes; no server log holds one", () => {
    recordLog(outputs);
    expect(outputs.join("\n")).toContain("==> [login] docker login");
    expect(secretLeaks(box, credentials, { "module output": outputs.join("\n"), "slack messages": slack.messages.join("\n") })).toEqual([]);
  });
});

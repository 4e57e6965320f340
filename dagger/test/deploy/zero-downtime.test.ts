// Zero-downtime deploys and rollbacks on the VPS-in-a-box, measured the way users would feel
// them: a request loop (20 requests/s, a fresh connection each, 1 s timeout; GETs and POSTs;
// HTTP, HTTPS through the frontend's own certificate, and the backend's port) runs through
// each operation on production ("/root/NEW START", TLS on). The tests run in order and share
// the server: a deploy the old way (the app containers hold the ports) -> the first deploy
// onto the edge (its one short gap, measured) -> a healthy deploy -> a deploy that never turns
// healthy (automatic rollback, no migration) -> rollback --to previous -> a deploy after a route
// killed before its reload -> a deploy, then a rollback, whose retire dies on the server -> a
// deploy whose record dies.
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, vpsBox } from "../vps/helpers.js";
import { deploy, rollback, status } from "../../src/deploy/index.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import { activeConf, startRelease } from "../../src/deploy/commands/edge.js";
import {
  boxCredentials,
  boxEnvironment,
  boxExecutor,
  killRemoteStep,
  outcome,
  releaseImages,
  resetEnvironment,
  servedThroughFrontend,
  testCaller,
} from "./support.js";
import { describeTraffic, trafficDuring, type Target } from "./traffic.js";

let box: VpsBox;
let env: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let credentials: ReturnType<typeof boxCredentials>;
let targets: Target[];
let envFileBefore: Buffer;
const lines: string[] = [];
const caller = () => testCaller("zero-downtime", lines);
const images = (release: "v1" | "v2" | "v3") => releaseImages(box, release);
const DOMAIN = "qgo.box.test";
const liveDir = () => join(box.letsencryptDir, "live", DOMAIN);
const envFile = () => join(box.productionAppDir, ".env");

/** The compose files as they were before the edge: what a server deployed the old way runs. */
const legacyFiles = (): ReleaseFile[] =>
  releaseFiles.map(({ name }) => ({
    name,
    content: readFileSync(join(import.meta.dirname, "fixtures", "legacy-compose", name), "utf8"),
  }));

beforeAll(async () => {
  box = vpsBox();
  credentials = boxCredentials(box);
  await resetEnvironment(box, "production");
  ({ env, releaseFiles } = await boxEnvironment(box, "production"));
  // A certificate for the site, where certbot would have put it, and TLS_DOMAIN in .env.
  mkdirSync(liveDir(), { recursive: true });
  execFileSync("openssl", [
    "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
    "-keyout", join(liveDir(), "privkey.pem"), "-out", join(liveDir(), "fullchain.pem"),
    "-subj", `/CN=${DOMAIN}`, "-addext", `subjectAltName=DNS:${DOMAIN}`,
  ], { stdio: "pipe" }); // prettier-ignore
  envFileBefore = readFileSync(envFile());
  appendFileSync(envFile(), `TLS_DOMAIN=${DOMAIN}\n`);
  const tls = { ca: readFileSync(join(liveDir(), "fullchain.pem"), "utf8"), servername: DOMAIN };
  const { frontend, backend, https } = box.ports.production;
  const shipment = JSON.stringify({
    customerName: "sent during a deploy",
    origin: "Rotterdam",
    destination: "Gdansk",
    weightKg: 1,
  });
  targets = [
    { name: "http GET /health", port: frontend, path: "/health" },
    { name: "https GET /", port: https, path: "/", tls },
    { name: "https GET /api/shipments", port: https, path: "/api/shipments", tls },
    {
      name: "https POST /api/shipments",
      port: https,
      path: "/api/shipments",
      method: "POST",
      body: shipment,
      tls,
      expect: 201,
    },
    { name: "backend GET /health", port: backend, path: "/health" },
  ];
});

afterAll(() => {
  if (envFileBefore) writeFileSync(envFile(), envFileBefore);
  rmSync(liveDir(), { recursive: true, force: true });
});

const serving = async () => (await servedThroughFrontend(box, "production")).version;

describe("zero-downtime deploys and rollbacks on the VPS-in-a-box", () => {
  it("a server deployed the old way moves onto the edge at its next deploy, with one short gap", async () => {
    const legacy = await outcome(
      deploy(
        { env, releaseFiles: legacyFiles(), ...images("v1"), approved: true },
        credentials,
        caller(),
      ),
    );
    if (!legacy.ok) throw legacy.error;
    const { result, traffic } = await trafficDuring(
      outcome(
        deploy({ env, releaseFiles, ...images("v2"), approved: true }, credentials, caller()),
      ),
      targets,
    );
    if (!result.ok) throw result.error;
    console.log(`first deploy onto the edge (v1 old layout -> v2): ${describeTraffic(traffic)}`);
    expect(result.report.log.join("\n")).toMatch(
      /routed=blue \(edge started; the old containers stopped \d+ ms before\)/,
    );
    // The move itself: the old containers stop, the edge starts in their place.
    expect(traffic.longestGapMs).toBeLessThan(3000);
    expect(await serving()).toBe("v2-box");
    const now = await outcome(status(env, credentials, caller()));
    if (!now.ok) throw now.error;
    expect(now.report.summary).toContain("edge: serving the blue containers");
  });

  it("a healthy deploy: 0 failed requests", async () => {
    const { result, traffic } = await trafficDuring(
      outcome(
        deploy({ env, releaseFiles, ...images("v1"), approved: true }, credentials, caller()),
      ),
      targets,
    );
    if (!result.ok) throw result.error;
    console.log(`healthy deploy v2 -> v1: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(traffic.sent).toBeGreaterThan(40);
    expect(result.report.steps.map((s) => s.step)).toEqual(
      expect.arrayContaining(["start", "route", "health", "retire"]),
    );
    expect(await serving()).toBe("v1-box");
  });

  it("a deploy whose release never turns healthy rolls back by itself: 0 failed requests", async () => {
    const { result, traffic } = await trafficDuring(
      outcome(
        deploy({ env, releaseFiles, ...images("v3"), approved: true }, credentials, caller()),
      ),
      targets,
    );
    console.log(`failed deploy v1 -> v3, automatic rollback: ${describeTraffic(traffic)}`);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.error.message).toMatch(/failed at step start: .*unhealthy/s);
    expect(!result.ok && result.error.message).toMatch(/the database was not touched/);
    expect(traffic.failed).toEqual([]);
    expect(await serving()).toBe("v1-box");
  });

  it("rollback --to previous: 0 failed requests", async () => {
    const { result, traffic } = await trafficDuring(
      outcome(rollback({ env, toPrevious: true }, credentials, caller())),
      targets,
    );
    if (!result.ok) throw result.error;
    console.log(`rollback --to previous v1 -> v2: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(await serving()).toBe("v2-box");
  });

  it("after a route killed before its reload, the next deploy reloads the edge before it removes anything", async () => {
    // What such a route leaves: the new color's containers up and named in active.conf, the
    // edge still serving the old ones. (Start's own step, run here without a deploy around it.)
    const executor = await boxExecutor(box);
    try {
      const started = await executor.run(startRelease(env));
      expect(started.exitCode).toBe(0);
      const color = /started=(blue|green)/.exec(started.stdout)![1] as "blue" | "green";
      writeFileSync(join(box.productionAppDir, "edge", "active.conf"), activeConf(color));
    } finally {
      executor.close();
    }
    // The next deploy, held at route: its start has removed the containers of the color it
    // starts. Had the edge not been reloaded first, those were the ones it served.
    const pause = join(box.pauseDir, "route");
    writeFileSync(pause, "");
    try {
      const running = outcome(
        deploy({ env, releaseFiles, ...images("v1"), approved: true }, credentials, caller()),
      );
      const deadline = Date.now() + 180_000;
      while (!existsSync(`${pause}.reached`) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(existsSync(`${pause}.reached`)).toBe(true);
      expect(await serving()).toBe("v2-box");
      rmSync(pause);
      const result = await running;
      if (!result.ok) throw result.error;
    } finally {
      rmSync(pause, { force: true });
      rmSync(`${pause}.reached`, { force: true });
    }
    expect(await serving()).toBe("v1-box");
  });

  const colors = async () =>
    new Set(
      (await boxDocker(box)`docker ps -a --filter label=com.docker.compose.project=qgo-production --filter label=com.docker.compose.service=backend --format ${'{{.Label "qgo.color"}}'}`).stdout.split("\n").filter(Boolean),
    ); // prettier-ignore

  /** Runs the operation with `step` killed on the server (as an out-of-memory kill would), under traffic. */
  async function killedAt<T>(step: string, operation: () => Promise<T>) {
    const pause = join(box.pauseDir, step);
    writeFileSync(pause, "");
    try {
      const run = trafficDuring(operation(), targets);
      const deadline = Date.now() + 180_000;
      while (!existsSync(`${pause}.reached`) && Date.now() < deadline)
        await new Promise((resolve) => setTimeout(resolve, 50));
      expect(existsSync(`${pause}.reached`)).toBe(true);
      // Before it did anything.
      expect(killRemoteStep("production", step)).toBeGreaterThan(0);
      return await run;
    } finally {
      rmSync(pause, { force: true });
      rmSync(`${pause}.reached`, { force: true });
    }
  }
  const retireNote =
    /NOTE: .*Step retire did not complete \(exit \d+\): containers of the release before may still run/s;

  it("a retire that dies on the server: the new release keeps serving, 0 failed requests, no rollback; the next deploy removes what it left", async () => {
    const { result, traffic } = await killedAt("retire", () =>
      outcome(
        deploy({ env, releaseFiles, ...images("v2"), approved: true }, credentials, caller()),
      ),
    );
    if (!result.ok) throw result.error;
    console.log(`deploy v1 -> v2, retire killed: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(result.report.summary).toMatch(
      /^Deployed release r\S+ \(version v2-box\) to production: healthy\./,
    );
    expect(result.report.summary).toMatch(retireNote);
    expect(await serving()).toBe("v2-box");
    expect((await colors()).size).toBe(2);
    const next = await outcome(
      deploy({ env, releaseFiles, ...images("v1"), approved: true }, credentials, caller()),
    );
    if (!next.ok) throw next.error;
    expect(await serving()).toBe("v1-box");
    expect((await colors()).size).toBe(1);
  });

  it("a rollback whose retire dies: the release put back keeps serving, 0 failed requests, the rollback is not undone", async () => {
    const { result, traffic } = await killedAt("retire", () =>
      outcome(rollback({ env, toPrevious: true }, credentials, caller())),
    );
    if (!result.ok) throw result.error;
    console.log(`rollback --to previous v1 -> v2, retire killed: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(result.report.summary).toMatch(
      /^Rolled production back to release r\S+ \(version v2-box\): healthy\./,
    );
    expect(result.report.summary).toMatch(retireNote);
    expect(await serving()).toBe("v2-box");
    expect((await colors()).size).toBe(2);
  });

  it("a record that dies on the server: the release serves, the deploy succeeds with a note, nothing is rolled back", async () => {
    const { result, traffic } = await killedAt("record", () =>
      outcome(
        deploy({ env, releaseFiles, ...images("v1"), approved: true }, credentials, caller()),
      ),
    );
    if (!result.ok) throw result.error;
    console.log(`deploy v2 -> v1, record killed: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(result.report.summary).toMatch(
      /^Deployed release r\S+ \(version v1-box\) to production: healthy\..* NOTE: .*Step record failed \(.+\): the release history and audit log may lack this operation/s,
    );
    expect(await serving()).toBe("v1-box");
    // The history lacks it, and rollback --to previous still goes to the release before it.
    const back = await outcome(rollback({ env, toPrevious: true }, credentials, caller()));
    if (!back.ok) throw back.error;
    expect(await serving()).toBe("v2-box");
  });
});

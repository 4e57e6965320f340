// Every function of the module executed here, in the order a user meets them, through the
// SDK's entrypoint as `dagger call` invokes it, on one executing engine (so `ci` finds what
// lint, test and the image builds already evaluated, as the engine's cache would).
//
// Prisma's schema engine cannot be downloaded here (README, "Prisma offline"): the executed
// run passes the migrate-command and drift-check overrides; everything else runs as shipped.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { vpsBox } from "../vps/helpers.js";
import { ctx } from "./harness.js";

const OFFLINE_TESTS = {
  migrateCommand: ["node", "scripts/apply-migrations.mjs"],
  driftCheckCommand: ["npx", "--no-install", "vitest", "run", "tests/migrations.test.ts"],
};
const IMAGE_ARGS = {
  gitCommit: "0123abc",
  appVersion: "1.2.3-pipeline",
  sourceUrl: "https://example.test/acme/qgo",
};

/** What publish and ci printed, for ci-summary. */
const printed = { publish: "", ci: "" };

const ok = (result: { error?: string; output: string }) =>
  expect(result.error, result.output.slice(-3000)).toBeUndefined();

/** Loads an image tarball into the box's engine; returns the image ID. */
async function load(tarball: string): Promise<string> {
  const loaded = await ctx.pipeline.executor.docker.check(["load", "-i", tarball]);
  const id = /Loaded image(?: ID)?: (\S+)/.exec(loaded)?.[1];
  if (!id) throw new Error(`docker load said: ${loaded}`);
  return id;
}

/** Runs an image on a network of its own; returns its address and a stop function. */
async function runImage(
  image: string,
  args: string[],
): Promise<{ ip: string; stop: () => Promise<void> }> {
  const docker = ctx.pipeline.executor.docker;
  const network = `qgo-pipeline-${Date.now()}`;
  await docker.check(["network", "create", network]);
  const container = await docker.check(["run", "-d", "--network", network, ...args, image]);
  const ip = await docker.check([
    "inspect",
    "--format",
    `{{(index .NetworkSettings.Networks "${network}").IPAddress}}`,
    container,
  ]);
  return {
    ip,
    stop: async () => {
      await docker.run(["rm", "-f", container]);
      await docker.run(["network", "rm", network]);
    },
  };
}

async function answer(url: string, timeoutMs = 60_000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fetch(url, { signal: AbortSignal.timeout(3000) });
    } catch (error) {
      last = error;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw new Error(`${url} did not answer: ${String(last)}`);
}

/** Registers this part of the pipeline suite (called by pipeline.test.ts, in order). */
export function describeFunctions(): void {
  describe("dagger call notify", () => {
    it("posts the message to the webhook over HTTPS; the URL is in no image, history or output", async () => {
      const webhook = ctx.pipeline.engine.secret("env://SLACK_WEBHOOK_URL", ctx.pipeline.slack.url);
      const message = `CI failed on main (run ${Date.now()})`;
      const mark = ctx.pipeline.executor.imageCount;
      const result = await ctx.pipeline.call("notify", { webhook, message });
      ok(result);
      expect(result.returnValue).toContain("Slack notified (HTTP 200)");
      expect(ctx.pipeline.slack.received.map((r) => JSON.parse(r.body) as unknown)).toContainEqual({
        text: message,
      });
      expect(ctx.pipeline.slack.received.at(-1)?.path).toBe(
        new URL(ctx.pipeline.slack.url).pathname,
      );
      expect(result.output).not.toContain(ctx.pipeline.slack.url);
      expect(await ctx.pipeline.executor.imagesMentioning(ctx.pipeline.slack.url, mark)).toEqual(
        [],
      );
    });

    it("posts again on an identical second call (cache: never)", async () => {
      const before = ctx.pipeline.slack.received.length;
      const webhook = ctx.pipeline.engine.secret("env://SLACK_WEBHOOK_URL", ctx.pipeline.slack.url);
      const results = [
        await ctx.pipeline.call("notify", { webhook, message: "same" }),
        await ctx.pipeline.call("notify", { webhook, message: "same" }),
      ];
      results.forEach(ok);
      expect(ctx.pipeline.slack.received.length).toBe(before + 2);
    });
  });

  describe("dagger call lint", () => {
    it("runs npm run lint and npm run typecheck in the Node container, both ok", async () => {
      const result = await ctx.pipeline.call("lint");
      ok(result);
      expect(result.returnValue).toMatch(/^lint: ok/m);
      expect(result.returnValue).toMatch(/^typecheck: ok/m);
    });
  });

  describe("dagger call test-frontend", () => {
    it("runs the frontend's whole vitest suite (nginx tests included) and returns its counts", async () => {
      const result = await ctx.pipeline.call("testFrontend");
      ok(result);
      expect(result.returnValue).toMatch(/^frontend tests: ok/m);
      expect(result.returnValue).toMatch(/Tests\s+\d+ passed \(\d+\)/);
      expect(result.returnValue).not.toMatch(/skipped|failed/);
    });
  });

  describe("dagger call test-backend", () => {
    it("migrates a MySQL-compatible service, checks drift, runs the backend suite; all pass", async () => {
      const result = await ctx.pipeline.call("testBackend", OFFLINE_TESTS);
      ok(result);
      expect(result.returnValue).toMatch(/^backend tests: ok/m);
      expect(result.returnValue).toMatch(/Tests\s+\d+ passed \(\d+\)/);
      expect(result.returnValue).not.toMatch(/skipped|failed/);
    });
  });

  describe("dagger call test", () => {
    it("returns both suites' summaries, reusing what test-backend and test-frontend evaluated", async () => {
      const before = { ...ctx.pipeline.executor.counts };
      const result = await ctx.pipeline.call("test", OFFLINE_TESTS);
      ok(result);
      expect(result.returnValue).toMatch(/^backend tests: ok/m);
      expect(result.returnValue).toMatch(/^frontend tests: ok/m);
      expect(ctx.pipeline.executor.counts.execs - before.execs).toBe(0);
    });
  });

  describe("dagger call backend-image / frontend-image", () => {
    it("backend-image export: the tarball loads, carries the labels and answers /health with its version", async () => {
      const built = await ctx.pipeline.call("backendImage", IMAGE_ARGS);
      ok(built);
      const path = join(ctx.out, "backend.tar");
      const exported = await ctx.pipeline.chained(
        String(built.returnValue),
        "Container",
        `export(path: ${JSON.stringify(path)})`,
      );
      expect(exported.export).toBe(path);
      const image = await load(path);
      const labels = JSON.parse(
        await ctx.pipeline.executor.docker.check([
          "image",
          "inspect",
          "--format",
          "{{json .Config.Labels}}",
          image,
        ]),
      ) as Record<string, string>;
      expect(labels).toMatchObject({
        "org.opencontainers.image.revision": IMAGE_ARGS.gitCommit,
        "org.opencontainers.image.version": IMAGE_ARGS.appVersion,
        "org.opencontainers.image.source": IMAGE_ARGS.sourceUrl,
      });
      // No database here: /health answers 503 "db down", with the version it was built with.
      const running = await runImage(image, ["-e", "DATABASE_URL=mysql://qgo:x@127.0.0.1:9/qgo"]);
      try {
        const response = await answer(`http://${running.ip}:5000/health`);
        expect(response.status).toBe(503);
        expect(await response.json()).toMatchObject({
          db: "down",
          version: IMAGE_ARGS.appVersion,
          commit: IMAGE_ARGS.gitCommit,
        });
      } finally {
        await running.stop();
      }
    });

    it("frontend-image export: the tarball loads and nginx serves the dashboard", async () => {
      const built = await ctx.pipeline.call("frontendImage", IMAGE_ARGS);
      ok(built);
      const path = join(ctx.out, "frontend.tar");
      await ctx.pipeline.chained(
        String(built.returnValue),
        "Container",
        `export(path: ${JSON.stringify(path)})`,
      );
      const image = await load(path);
      const running = await runImage(image, [
        "-e",
        "QGO_BACKEND=backend:5000",
        "-e",
        "QGO_BACKEND_RESOLVER=system",
        "--add-host",
        "backend:127.0.0.1",
      ]);
      try {
        const response = await answer(`http://${running.ip}/`);
        expect(response.status).toBe(200);
        expect(await response.text()).toMatch(/<div id="root">/);
      } finally {
        await running.stop();
      }
    });
  });

  describe("dagger call build", () => {
    it("returns a directory with backend.tar and frontend.tar, the same images, built once", async () => {
      const before = { ...ctx.pipeline.executor.counts };
      const result = await ctx.pipeline.call("build", IMAGE_ARGS);
      ok(result);
      const dir = join(ctx.out, "images");
      await ctx.pipeline.chained(
        String(result.returnValue),
        "Directory",
        `export(path: ${JSON.stringify(dir)})`,
      );
      expect(readdirSync(dir).sort()).toEqual(["backend.tar", "frontend.tar"]);
      const [backend, frontend] = [
        await load(join(dir, "backend.tar")),
        await load(join(dir, "frontend.tar")),
      ];
      expect(backend).toBe(await load(join(ctx.out, "backend.tar")));
      expect(frontend).toBe(await load(join(ctx.out, "frontend.tar")));
      expect(ctx.pipeline.executor.counts.builds - before.builds).toBe(0);
    });
  });

  describe("dagger call publish", () => {
    it("pushes both images under the tag and the extra tags; the digests it prints are the registry's", async () => {
      const box = vpsBox();
      const password = ctx.pipeline.engine.secret("env://REGISTRY_TOKEN", "pipeline-token");
      const tag = `pipeline-${Date.now()}`;
      const result = await ctx.pipeline.call("publish", {
        repository: "Acme/QGO-Cargo",
        username: "ci",
        password,
        tag,
        registry: box.registry,
        extraTags: ["develop"],
        ...IMAGE_ARGS,
      });
      ok(result);
      printed.publish = String(result.returnValue);
      const lines = Object.fromEntries(
        String(result.returnValue)
          .trim()
          .split("\n")
          .map((line) => line.split("=") as [string, string]),
      );
      expect(lines.TAGS).toBe(`${tag},develop`);
      for (const component of ["backend", "frontend"]) {
        const ref = lines[`${component.toUpperCase()}_IMAGE`]!;
        expect(ref).toMatch(
          new RegExp(`^${box.registry}/acme/qgo-cargo/${component}@sha256:[0-9a-f]{64}$`),
        );
        for (const pushed of [tag, "develop"]) {
          const response = await fetch(
            `http://${box.registry}/v2/acme/qgo-cargo/${component}/manifests/${pushed}`,
            {
              method: "HEAD",
              headers: {
                accept:
                  "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json",
              },
            },
          );
          expect(response.status).toBe(200);
          expect(
            `${box.registry}/acme/qgo-cargo/${component}@${response.headers.get("docker-content-digest")}`,
          ).toBe(ref);
        }
      }
      expect(result.output).not.toContain("pipeline-token");
    });
  });

  describe("dagger call serve", () => {
    it("serve up --ports P:80: the dashboard, /health and the API answer through the frontend", async () => {
      const result = await ctx.pipeline.call("serve", {
        migrateCommand: OFFLINE_TESTS.migrateCommand,
      });
      ok(result);
      const port = 20_000 + Math.floor(Math.random() * 10_000);
      const up = new AbortController();
      const serving = ctx.pipeline
        .chained(
          String(result.returnValue),
          "Service",
          `up(ports: [{frontend: ${port}, backend: 80}])`,
          up.signal,
        )
        .then(
          () => new Error("up returned before it was stopped"),
          (error: Error) => (up.signal.aborted ? undefined : error),
        );
      try {
        // `up` blocks while it serves: a failure to start ends it early, with the reason.
        const index = await Promise.race([
          answer(`http://127.0.0.1:${port}/`, 900_000),
          serving.then((error) => Promise.reject(error ?? new Error("up ended"))),
        ]);
        expect(index.status).toBe(200);
        const health = await fetch(`http://127.0.0.1:${port}/health`);
        expect(health.status).toBe(200);
        expect(await health.json()).toMatchObject({ status: "ok", db: "up" });
        const shipments = await fetch(`http://127.0.0.1:${port}/api/shipments`);
        expect(shipments.status).toBe(200);
        expect(JSON.stringify(await shipments.json())).toMatch(/trackingNumber|items|data/);
      } finally {
        up.abort();
      }
      // Ending `up` (the CLI's Ctrl-C) must not be reported as a failure.
      expect(await serving).toBeUndefined();
    });
  });

  describe("dagger call ci", () => {
    it("runs lint, test and build: all three parts, reusing every chain evaluated above", async () => {
      const before = { ...ctx.pipeline.executor.counts };
      const result = await ctx.pipeline.call("ci", { ...IMAGE_ARGS, ...OFFLINE_TESTS });
      ok(result);
      const summary = String(result.returnValue);
      printed.ci = summary;
      for (const part of [
        /^lint: ok/m,
        /^typecheck: ok/m,
        /^backend tests: ok/m,
        /^frontend tests: ok/m,
        /^build: ok/m,
      ])
        expect(summary).toMatch(part);
      expect(ctx.pipeline.executor.counts.execs - before.execs).toBe(0);
      expect(ctx.pipeline.executor.counts.builds - before.builds).toBe(0);
    });
  });

  describe("dagger call ci-summary", () => {
    it("ci-summary ... export --path: the Markdown job summary of what ci and publish printed", async () => {
      const result = await ctx.pipeline.call("ciSummary", {
        ci: printed.ci,
        ciOutcome: "success",
        publish: printed.publish,
        publishOutcome: "success",
        runUrl: "https://github.test/acme/qgo/actions/runs/1",
      });
      ok(result);
      const path = join(ctx.out, "summary.md");
      await ctx.pipeline.chained(
        String(result.returnValue),
        "File",
        `export(path: ${JSON.stringify(path)})`,
      );
      const markdown = readFileSync(path, "utf8");
      expect(markdown).toMatch(/lint/);
      expect(markdown).toContain(/BACKEND_IMAGE=(\S+)/.exec(printed.publish)![1]);
    });
  });
}

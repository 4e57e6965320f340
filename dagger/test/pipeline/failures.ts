// What a user sees when a step fails, executed: a deliberately broken copy of the checkout makes
// lint and the tests fail with the failing tool's own output (the engine's message alone is
// "exit code: N"); notify names a webhook that is not https://.
import { cpSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";

import { REPO_ROOT } from "../standin/engine.js";
import { ctx } from "./harness.js";

/** A copy of the checkout (without node_modules, .git, dist) with `files` added or replaced. */
function brokenCopy(files: Record<string, string>): string {
  const copy = mkdtempSync(join(tmpdir(), "qgo-broken-"));
  ctx.scratch.push(copy);
  cpSync(REPO_ROOT, copy, {
    recursive: true,
    filter: (path) =>
      !/\/(node_modules|\.git|dist|\.test-results)(\/|$)/.test(path.slice(REPO_ROOT.length)),
  });
  for (const [path, contents] of Object.entries(files)) writeFileSync(join(copy, path), contents);
  return copy;
}

const FAILING_TEST = (name: string) =>
  `import { expect, it } from "vitest";\nit(${JSON.stringify(name)}, () => {\n  expect(1 + 1).toBe(3);\n});\n`;

/** Registers this part of the pipeline suite (called by pipeline.test.ts, in order). */
export function describeFailures(): void {
  describe("dagger call lint on a broken checkout", () => {
    it("fails naming ESLint's finding and the file", async () => {
      const copy = brokenCopy({
        "backend/src/pipeline-broken.ts":
          "export function broken(): number {\n  const unused = 1;\n  return 2;\n}\n",
      });
      const result = await ctx.pipeline.callWithSource(copy, "lint");
      expect(result.error).toMatch(/^lint failed: `npm run lint` exited with code 1/);
      expect(result.error).toContain("pipeline-broken.ts");
      expect(result.error).toMatch(/'unused' is assigned a value but never used/);
    });
  });

  describe("dagger call test-frontend on a broken checkout", () => {
    it("fails with the failing test's name and assertion", async () => {
      const copy = brokenCopy({
        "frontend/tests/pipeline-broken.test.ts": FAILING_TEST("deliberately broken frontend test"),
      });
      const result = await ctx.pipeline.callWithSource(copy, "testFrontend");
      expect(result.error).toMatch(
        /^frontend tests failed: `npm test -w frontend` exited with code 1/,
      );
      expect(result.error).toContain("deliberately broken frontend test");
      expect(result.error).toMatch(/expected 2 to be 3/);
    });
  });

  describe("dagger call test-backend on a broken checkout", () => {
    it("fails with the failing test's name and assertion", async () => {
      const copy = brokenCopy({
        "backend/tests/pipeline-broken.test.ts": FAILING_TEST("deliberately broken backend test"),
      });
      const result = await ctx.pipeline.callWithSource(copy, "testBackend", {
        migrateCommand: ["node", "scripts/apply-migrations.mjs"],
        driftCheckCommand: ["npx", "--no-install", "vitest", "run", "tests/migrations.test.ts"],
      });
      expect(result.error).toMatch(
        /^backend tests failed: `npm test -w backend` exited with code 1/,
      );
      expect(result.error).toContain("deliberately broken backend test");
      expect(result.error).toMatch(/expected 2 to be 3/);
    });
  });

  describe("dagger call notify with a wrong webhook", () => {
    it("fails saying why, without the URL", async () => {
      const webhook = ctx.pipeline.engine.secret(
        "env://SLACK_WEBHOOK_URL",
        "http://127.0.0.1:9/plain",
      );
      const result = await ctx.pipeline.call("notify", { webhook, message: "x" });
      expect(result.error).toMatch(/^notify failed: the webhook is not an https:\/\/ URL/);
      expect(result.error).not.toContain("127.0.0.1:9");
    });
  });
}

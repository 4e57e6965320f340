// The `pipeline` suite's entry: every function of the module executed here, through the SDK's
// entrypoint as `dagger call` invokes it, on one executing engine over the VPS-in-a-box's
// Docker engine. Parts run in order (functions.ts, then failures.ts) on one executor, so work
// on identical content runs once, as within one Dagger engine.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";

import { vpsBox } from "../vps/helpers.js";
import { describeFailures } from "./failures.js";
import { describeFunctions } from "./functions.js";
import { ctx, startPipeline } from "./harness.js";

/** Seconds of `dagger call`s this suite may take on the 2-core machine. */
const BUDGET_SECONDS = 25 * 60;

beforeAll(async () => {
  ctx.pipeline = await startPipeline(vpsBox());
  ctx.out = mkdtempSync(join(tmpdir(), "qgo-pipeline-out-"));
  ctx.scratch.push(ctx.out);
});
afterAll(async () => {
  await ctx.pipeline?.stop();
  for (const dir of ctx.scratch) rmSync(dir, { recursive: true, force: true });
});

describeFunctions();
describeFailures();

it(`stays within its time budget (${BUDGET_SECONDS / 60} minutes of dagger calls)`, () => {
  expect(ctx.pipeline.report(BUDGET_SECONDS)).toBeLessThan(BUDGET_SECONDS);
});

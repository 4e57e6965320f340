// vitest global setup of the `vps` suite: one box per run, shared by every test file.
import type { TestProject } from "vitest/node";
import { describeLeftovers, bringUp, tearDown } from "./lifecycle.js";

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const box = await bringUp();
  project.provide("vpsBox", box);
  return async () => {
    // The teardown test may have stopped the box already; a second teardown only checks.
    const report = describeLeftovers(await tearDown(box.stateDir, box.cacheDir));
    if (report) throw new Error(`The VPS box left things behind after teardown:\n${report}`);
  };
}

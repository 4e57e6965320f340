// The `vps` suite: tests that need the VPS-in-a-box (dagger/test/vps: the harness's own tests;
// dagger/test/deploy: deploy/rollback on it). The global setup brings one box up per run,
// provides its description to tests (`inject("vpsBox")`), and tears it down afterwards.
// Files share one server, so they run one at a time; the teardown test runs last.
import { defineConfig } from "vitest/config";
import { BaseSequencer, type TestSpecification } from "vitest/node";

const teardownTest = "test/vps/teardown.test.ts";

class TeardownTestLast extends BaseSequencer {
  override async sort(files: TestSpecification[]): Promise<TestSpecification[]> {
    const sorted = await super.sort(files);
    const isTeardown = (file: TestSpecification) => file.moduleId.endsWith(teardownTest);
    return [...sorted.filter((file) => !isTeardown(file)), ...sorted.filter(isTeardown)];
  }
}

export default defineConfig({
  test: {
    include: ["test/vps/**/*.test.ts", "test/deploy/**/*.test.ts"],
    // The deploy core's unit tests need no server: they run in the `dagger` suite.
    exclude: ["test/deploy/**/*.unit.test.ts"],
    globalSetup: ["test/vps/global-setup.ts"],
    fileParallelism: false,
    sequence: { sequencer: TeardownTestLast },
    testTimeout: 300_000,
    hookTimeout: 600_000,
    teardownTimeout: 120_000,
  },
});

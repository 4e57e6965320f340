// The `pipeline` suite: every Dagger function of the module executed for real, called through
// the SDK's entrypoint as `dagger call` does, on the executing engine (test/executor/) over the
// VPS-in-a-box's Docker engine (its global setup brings one box up per run). Files run one at
// a time: they share the box's two cores.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/pipeline/**/*.test.ts", "test/executor/**/*.test.ts"],
    // The executor's pure rules need no box: they run in the `dagger` suite.
    exclude: ["test/executor/**/*.unit.test.ts"],
    globalSetup: ["test/vps/global-setup.ts"],
    fileParallelism: false,
    testTimeout: 40 * 60_000,
    hookTimeout: 20 * 60_000,
    teardownTimeout: 120_000,
  },
});

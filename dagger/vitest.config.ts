// The `dagger` suite: the module's own tests (typecheck, CLI surface, recorded pipeline chains
// against the stand-in engine, CI workflows) and the deploy core's unit tests, which need no
// server. The VPS-in-a-box suite has vitest.vps.config.ts.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: [
      "test/module/**/*.test.ts",
      "test/deploy/**/*.unit.test.ts",
      "test/executor/**/*.unit.test.ts",
      "test/lib/**/*.unit.test.ts",
    ],
    // Each function call starts a fresh module process (as the engine does): seconds, not ms.
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: "forks",
  },
});

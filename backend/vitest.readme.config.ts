// The README's commands on a fresh clone (tests/readme-commands.test.ts): a check of the
// repository and of this machine (git, Debian packages, a real MariaDB), so it runs as its own
// suite (`readme` in scripts/test-all.mjs), not in `npm test -w backend`, which also runs inside
// `dagger call test`'s container, where there is no git checkout to clone.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/readme-commands.test.ts"],
    globalSetup: ["tests/setup/global-setup.ts"],
    hookTimeout: 900_000,
    testTimeout: 900_000,
  },
});

import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    // The README check runs on the host as its own suite (vitest.readme.config.ts).
    exclude: ["tests/readme-commands.test.ts"],
    globalSetup: ["tests/setup/global-setup.ts"],
    // Starting a throwaway MariaDB takes a few seconds; each file builds its own database.
    hookTimeout: 60_000,
    testTimeout: 20_000,
  },
});

#!/usr/bin/env node
// Generates Prisma Client into src/generated/prisma (gitignored). `prisma generate` does not run
// the schema engine, but the CLI downloads it first unless PRISMA_SCHEMA_ENGINE_BINARY names an
// existing file; where downloads are impossible (offline CI, image builds) any file will do, so
// this points it at the node binary unless the caller set it.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const backendDir = join(dirname(fileURLToPath(import.meta.url)), "..");
const prismaCli = createRequire(join(backendDir, "package.json")).resolve("prisma/build/index.js");

const result = spawnSync(process.execPath, [prismaCli, "generate", ...process.argv.slice(2)], {
  cwd: backendDir,
  stdio: "inherit",
  env: {
    ...process.env,
    PRISMA_SCHEMA_ENGINE_BINARY: process.env.PRISMA_SCHEMA_ENGINE_BINARY || process.execPath,
    CHECKPOINT_DISABLE: "1",
    PRISMA_HIDE_UPDATE_MESSAGE: "1",
  },
});
if (result.error) {
  console.error(`prisma generate could not start: ${result.error.message}`);
  process.exit(1);
}
process.exit(result.status ?? 1);

#!/usr/bin/env node
// Image build step: fetch Prisma's schema engine (what `prisma migrate deploy` runs) the way its
// skipped install script would, and say plainly whether it is there. Without network (offline
// builds) it is not, and that is not fatal: the app does not need it, scripts/apply-migrations.mjs
// applies the same migrations without it, and the CLI downloads it on first use where it can
// (the engines folder is left writable for the runtime user for that).
// PRISMA_SCHEMA_ENGINE_REQUIRED=true turns a missing engine into a build failure.
import { spawnSync } from "node:child_process";
import { chownSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";

const require = createRequire(join(process.cwd(), "package.json"));
const enginesDir = dirname(require.resolve("@prisma/engines/package.json"));

spawnSync(process.execPath, [join(enginesDir, "scripts", "postinstall.js")], {
  stdio: "inherit",
  timeout: 180_000,
  env: { ...process.env, CHECKPOINT_DISABLE: "1" },
});

const engine = readdirSync(enginesDir).find((name) => name.startsWith("schema-engine"));
const runtimeUid = Number(process.env.RUNTIME_UID ?? "1000");
chownSync(enginesDir, runtimeUid, runtimeUid);

if (engine) {
  console.log(
    `prepare-schema-engine: ${engine} is in the image; \`npx prisma migrate deploy\` runs offline.`,
  );
} else if (process.env.PRISMA_SCHEMA_ENGINE_REQUIRED === "true") {
  console.error(
    "prepare-schema-engine: the schema engine could not be downloaded (no network?) and PRISMA_SCHEMA_ENGINE_REQUIRED=true.",
  );
  process.exit(1);
} else {
  console.log(
    "prepare-schema-engine: schema engine not downloaded (no network during the build). " +
      "`npx prisma migrate deploy` will fetch it on first use; `node scripts/apply-migrations.mjs` needs no engine.",
  );
}

#!/usr/bin/env node
// Runs every test suite of the repository with vitest, one process per suite (the Dagger
// module has its own node_modules and lockfile, so it cannot share a vitest process with
// the workspaces), then prints one plain summary line that CI reads: "N passed, N failed".
//
// Static checks (lint, typecheck) run first and count as one test each.
//
// Usage: node scripts/test-all.mjs [suite ...]   (default: all checks and suites, in order)
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");
// suite name -> [directory, vitest config (relative to the directory) or null for the default]
const suites = {
  backend: ["backend", null],
  readme: ["backend", "vitest.readme.config.ts"],
  frontend: ["frontend", null],
  dagger: ["dagger", "vitest.config.ts"],
  vps: ["dagger", "vitest.vps.config.ts"],
  // Every Dagger function executed on the executing engine over the box's Docker engine.
  pipeline: ["dagger", "vitest.pipeline.config.ts"],
};
const checks = {
  lint: ["npm", ["run", "lint"]],
  typecheck: ["npm", ["run", "typecheck"]],
};

const requested = process.argv.slice(2);
const known = [...Object.keys(checks), ...Object.keys(suites)];
const unknown = requested.filter((name) => !known.includes(name));
if (unknown.length > 0) {
  console.error(`Unknown suite(s): ${unknown.join(", ")}. Known: ${known.join(", ")}.`);
  process.exit(2);
}
const selected = requested.length > 0 ? requested : known;

const resultsDir = join(root, ".test-results");
mkdirSync(resultsDir, { recursive: true });

function vitestBin(dir) {
  const local = join(dir, "node_modules", ".bin", "vitest");
  return existsSync(local) ? local : join(root, "node_modules", ".bin", "vitest");
}

const totals = { passed: 0, failed: 0, skipped: 0 };
const problems = [];
// How long each check and suite took, printed at the end (CI's budget is watched with these).
const durations = [];
const timed = (name, started) =>
  durations.push(`${name} ${((Date.now() - started) / 1000).toFixed(1)} s`);
for (const name of selected.filter((name) => name in checks)) {
  const [command, args] = checks[name];
  console.log(`\n=== check ${name} ===`);
  const started = Date.now();
  const run = spawnSync(command, args, { cwd: root, stdio: "inherit", env: process.env });
  timed(name, started);
  if (run.status === 0) totals.passed += 1;
  else {
    totals.failed += 1;
    problems.push(`${name}: exit ${run.status ?? run.signal}`);
  }
}

for (const name of selected.filter((name) => name in suites)) {
  const [relativeDir, config] = suites[name];
  const dir = join(root, relativeDir);
  const report = join(resultsDir, `${name}.json`);
  rmSync(report, { force: true });
  console.log(`\n=== suite ${name} (${relativeDir}/${config ?? ""}) ===`);
  const configArgs = config ? ["--config", config] : [];
  const started = Date.now();
  const run = spawnSync(
    vitestBin(dir),
    ["run", ...configArgs, "--reporter=default", "--reporter=json", `--outputFile.json=${report}`],
    { cwd: dir, stdio: "inherit", env: process.env },
  );
  timed(name, started);
  if (!existsSync(report)) {
    // The runner died before reporting (config error, crash): count the suite as one failure.
    totals.failed += 1;
    problems.push(`${name}: vitest wrote no report (exit ${run.status ?? run.signal})`);
    continue;
  }
  const result = JSON.parse(readFileSync(report, "utf8"));
  totals.passed += result.numPassedTests;
  totals.failed += result.numFailedTests;
  totals.skipped += result.numPendingTests + result.numTodoTests;
  // A test file that fails to load has no test results but is still a failure.
  const brokenFiles = result.testResults.filter(
    (file) => file.status === "failed" && file.assertionResults.length === 0,
  );
  totals.failed += brokenFiles.length;
  if (brokenFiles.length > 0)
    problems.push(`${name}: ${brokenFiles.length} test file(s) failed to load`);
  if (run.status !== 0 && result.numFailedTests === 0 && brokenFiles.length === 0) {
    totals.failed += 1;
    problems.push(`${name}: vitest exited ${run.status ?? run.signal} without a failed test`);
  }
}

console.log(`\ndurations: ${durations.join(", ")}`);
for (const problem of problems) console.log(`problem: ${problem}`);
console.log(
  `${totals.passed} passed, ${totals.failed} failed` +
    (totals.skipped > 0 ? `, ${totals.skipped} skipped` : ""),
);
process.exit(totals.failed > 0 ? 1 : 0);

// Backup retention, run for real in a scratch dir.
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("backup", () => {
  it("retention keeps the newest five of this environment, never the new one, never another env's", () => {
    const env = envIn(join(scratch(), "retention"));
    mkdirSync(env.backupsDir, { recursive: true });
    const names = [1, 2, 3, 4, 5, 6, 7].map((d) => `backup_staging_2026010${d}_120000.tar.gz`);
    const production = "backup_production_20250101_000000.tar.gz";
    for (const name of [...names, production, "notes.txt"])
      writeFileSync(join(env.backupsDir, name), "x");
    // The "new" one is deliberately not the newest by name: it must survive anyway.
    const result = bash(commands.pruneBackups(env, names[0]!).script);
    expect(result.status).toBe(0);
    const left = readdirSync(env.backupsDir).sort();
    expect(left).toEqual(
      [production, names[0], names[3], names[4], names[5], names[6], "notes.txt"].sort(),
    );
  });
});

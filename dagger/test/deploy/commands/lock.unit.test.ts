// The deploy lock, run for real in a scratch dir.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("lock", () => {
  it("the lock is taken once, refused with the holder's details, and released only by its token", () => {
    const env = envIn(join(scratch(), "lock"));
    mkdirSync(env.appDir, { recursive: true });
    const info = {
      holder: "alice@ci",
      commit: "c0ffee",
      runUrl: "https://ci.example/runs/7",
      token: "tok-1",
      operation: "deploy r1",
    };
    expect(bash(commands.acquireLock(env, info).script).status).toBe(0);
    const second = bash(
      commands.acquireLock(env, { ...info, holder: "bob", token: "tok-2" }).script,
    );
    expect(second.status).toBe(commands.LOCK_HELD_EXIT);
    expect(second.stdout).toContain("holder=alice@ci");
    expect(second.stdout).toContain("run_url=https://ci.example/runs/7");
    expect(second.stdout).toMatch(/since=\d{4}-\d\d-\d\dT/);
    bash(commands.releaseLock(env, "tok-2").script);
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(true);
    bash(commands.releaseLock(env, "tok-1").script);
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(false);
    bash(commands.acquireLock(env, info).script);
    const forced = bash(commands.forceUnlock(env, "it's bob").script);
    expect(forced.stdout).toContain("holder=alice@ci");
    expect(readFileSync(join(env.appDir, ".qgo-deploy/audit.log"), "utf8")).toMatch(
      /env=staging action=unlock result=success holder=it's bob\n$/,
    );
    expect(existsSync(join(env.appDir, ".qgo-deploy/lock"))).toBe(false);
  });
});

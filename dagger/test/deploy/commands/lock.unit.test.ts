// The deploy lock, run for real in a scratch dir. The lease is tied to the holder's sshd
// process; here a copy of bash named "sshd" stands in for it (the scripts find the connection
// by walking /proc up to the nearest process called sshd or sshd-session, as on a server).
import { spawn, type ChildProcess } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { script, serverPaths } from "../../../src/deploy/commands/shared.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();
const TOKEN_A = "aaaaaaaaaaaaaaaaaaaaaaaa";
const TOKEN_B = "bbbbbbbbbbbbbbbbbbbbbbbb";
const info = {
  holder: "alice@ci",
  commit: "c0ffee",
  runUrl: "https://ci.example/runs/7",
  token: TOKEN_A,
  operation: "deploy r1",
};

/** Runs `script` as the child of a long-lived process named sshd (a holder's connection). */
async function underFakeSshd(script: string): Promise<{ sshd: ChildProcess; status: number }> {
  const fake = join(scratch(), "sshd");
  if (!existsSync(fake)) copyFileSync("/bin/bash", fake);
  const sshd = spawn(fake, ["-c", 'bash -c "$1"; echo "exit=$?"; sleep 300', "sshd", script]);
  const status = await new Promise<number>((done) => {
    let out = "";
    sshd.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /exit=(\d+)/.exec(out);
      if (m) done(Number(m[1]));
    });
  });
  return { sshd, status };
}

const running: ChildProcess[] = [];
afterEach(() => {
  for (const p of running.splice(0)) p.kill("SIGKILL");
});

const lockDir = (env: { appDir: string }) => join(env.appDir, ".qgo-deploy/lock");

describe("lock", () => {
  it("is taken once, refused with the holder's details, and released only by its token", () => {
    const env = envIn(join(scratch(), "once"));
    mkdirSync(env.appDir, { recursive: true });
    expect(bash(commands.acquireLock(env, info).script).status).toBe(0);
    const second = bash(
      commands.acquireLock(env, { ...info, holder: "bob", token: TOKEN_B }).script,
    );
    expect(second.status).toBe(commands.LOCK_HELD_EXIT);
    expect(second.stdout).toContain("holder=alice@ci");
    expect(second.stdout).toContain("run_url=https://ci.example/runs/7");
    expect(second.stdout).toMatch(/since=\d{4}-\d\d-\d\dT/);
    // Taken outside any sshd (as here), the lease cannot be checked: "unknown", which is stale.
    expect(second.stdout).toContain("holder_connection=unknown");
    bash(commands.releaseLock(env, TOKEN_B).script);
    expect(existsSync(lockDir(env))).toBe(true);
    bash(commands.releaseLock(env, TOKEN_A).script);
    expect(existsSync(lockDir(env))).toBe(false);
    // A lock whose holder's connection was never found goes without --force.
    bash(commands.acquireLock(env, info).script);
    const unlocked = bash(commands.forceUnlock(env, "bob").script);
    expect(unlocked.status).toBe(0);
    expect(unlocked.stdout).toContain("holder_connection=unknown");
    expect(existsSync(lockDir(env))).toBe(false);
  });

  it("an interrupted operation's step is the one sent last, whatever order the notes were written in", () => {
    const env = envIn(join(scratch(), "journal"));
    mkdirSync(env.appDir, { recursive: true });
    expect(bash(commands.acquireLock(env, info).script).status).toBe(0);
    // A step run beside later ones (its own channel) notes itself after the switch did.
    for (const [step, seq] of [
      ["upload,restore-proof", 4],
      ["switch", 5],
      ["upload,restore-proof", 4],
    ] as const)
      expect(bash(commands.underLock(env, TOKEN_A, step, seq)).status).toBe(0);
    // (No Docker here: no one-off containers to list.)
    const lines = commands.leftoverStatusLines(env, "op", serverPaths(env));
    const status = bash(`docker() { :; }\n${script(lines)}`);
    expect(status.stdout).toMatch(
      /^operation: deploy r1 by alice@ci, in step switch \(since \d{4}-/m,
    );
    const forced = bash(commands.forceUnlock(env, "bob").script);
    expect(forced.stdout).toMatch(/^its last step: switch at=\d{4}-/m);
    // The operation file the forced unlock left: the next lock reads it as interrupted.
    const after = bash(commands.acquireLock(env, { ...info, token: TOKEN_B }).script);
    expect(after.stdout).toMatch(/^interrupted_operation=deploy r1$/m);
    expect(after.stdout).toMatch(/^interrupted_step=switch at=/m);
    expect(after.stdout).not.toMatch(/^interrupted_step=upload/m);
  });

  it("a holder's value with newlines and spaces stays one field of one line", () => {
    const env = envIn(join(scratch(), "fields"));
    mkdirSync(env.appDir, { recursive: true });
    const hostile = { ...info, holder: "eve\nholder=mallory\nsince=never", runUrl: "x y" };
    expect(bash(commands.acquireLock(env, hostile).script).status).toBe(0);
    const lines = readFileSync(join(lockDir(env), "info"), "utf8")
      .trim()
      .split("\n");
    expect(lines.filter((l) => l.startsWith("holder="))).toEqual([
      "holder=eve%0Aholder=mallory%0Asince=never",
    ]);
    expect(lines.filter((l) => l.startsWith("since="))).toHaveLength(1);
    expect(lines).toContain("run_url=x y");
    expect(commands.fieldText("eve%0Aholder=mallory")).toBe("eve\nholder=mallory");
    const forced = bash(commands.forceUnlock(env, "it's\nbob", true).script);
    expect(forced.status).toBe(0);
    expect(readFileSync(join(env.appDir, ".qgo-deploy/audit.log"), "utf8")).toMatch(
      /^\S+ env=staging action=unlock result=success holder=it%27s%0Abob forced=yes holder_connection=unknown\n$/,
    );
  });

  it("is a lease: a live holder's lock needs --force, a dead holder's does not", async () => {
    const env = envIn(join(scratch(), "lease"));
    mkdirSync(env.appDir, { recursive: true });
    const holder = await underFakeSshd(commands.acquireLock(env, info).script);
    running.push(holder.sshd);
    expect(holder.status).toBe(0);
    expect(readFileSync(join(lockDir(env), "connection"), "utf8")).toMatch(
      new RegExp(`^${holder.sshd.pid} \\d+\\n$`),
    );
    const refused = bash(commands.acquireLock(env, { ...info, token: TOKEN_B }).script);
    expect(refused.stdout).toContain("holder_connection=alive");
    const live = bash(commands.forceUnlock(env, "bob").script);
    expect(live.status).toBe(commands.LOCK_LIVE_EXIT);
    expect(live.stderr).toContain("LOCK LIVE");
    expect(existsSync(lockDir(env))).toBe(true);
    // The holder's connection ends (client killed, network gone): the lock is stale.
    holder.sshd.kill("SIGKILL");
    await new Promise((done) => holder.sshd.once("exit", done));
    const stale = bash(commands.forceUnlock(env, "bob").script);
    expect(stale.status).toBe(0);
    expect(stale.stdout).toContain("holder_connection=gone");
    expect(existsSync(lockDir(env))).toBe(false);
  });

  it("--force removes a live lease, and the holder's next command stops before it runs", async () => {
    const env = envIn(join(scratch(), "forced"));
    mkdirSync(env.appDir, { recursive: true });
    const holder = await underFakeSshd(commands.acquireLock(env, info).script);
    running.push(holder.sshd);
    const marker = join(scratch(), "forced-step-ran");
    const step = (token: string) =>
      `set -euo pipefail\n${commands.underLock(env, token, "migrate")}\ntouch '${marker}'\n`;
    // While the lock is ours, the command runs and notes its step.
    expect(bash(step(TOKEN_A)).status).toBe(0);
    expect(existsSync(marker)).toBe(true);
    expect(readFileSync(join(env.appDir, ".qgo-deploy/operation"), "utf8")).toMatch(/step=migrate/);
    // A command with another token never runs its body.
    bash(`rm '${marker}'`);
    expect(bash(step(TOKEN_B)).status).toBe(commands.LOCK_LOST_EXIT);
    expect(existsSync(marker)).toBe(false);
    const forced = bash(commands.forceUnlock(env, "bob", true).script);
    expect(forced.status).toBe(0);
    expect(forced.stdout).toContain("holder_connection=alive");
    const after = bash(step(TOKEN_A));
    expect(after.status).toBe(commands.LOCK_LOST_EXIT);
    expect(after.stderr).toContain("no longer this operation's");
    expect(existsSync(marker)).toBe(false);
    // Someone else takes the lock; the first holder's release leaves it alone.
    expect(bash(commands.acquireLock(env, { ...info, token: TOKEN_B }).script).status).toBe(0);
    expect(bash(commands.releaseLock(env, TOKEN_A).script).stderr).toContain("not ours");
    expect(readFileSync(join(lockDir(env), "token"), "utf8")).toBe(`${TOKEN_B}\n`);
  });

  it("lock changes are serialised: 8 concurrent takers, exactly one wins", async () => {
    const env = envIn(join(scratch(), "race"));
    mkdirSync(env.appDir, { recursive: true });
    const tokens = Array.from({ length: 8 }, (_, i) => `${i}`.repeat(24));
    const results = await Promise.all(
      tokens.map(
        (token) =>
          new Promise<number | null>((done) => {
            const child = spawn("bash", [
              "-c",
              commands.acquireLock(env, { ...info, token }).script,
            ]);
            child.on("close", done);
          }),
      ),
    );
    expect(results.filter((s) => s === 0)).toHaveLength(1);
    expect(results.filter((s) => s === commands.LOCK_HELD_EXIT)).toHaveLength(7);
    const winner = readFileSync(join(lockDir(env), "token"), "utf8").trim();
    expect(tokens).toContain(winner);
  });
});

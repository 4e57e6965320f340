// Shared pieces of the deploy core's unit tests: throwaway keys and known_hosts lines, the
// repository's environment files, a scratch directory whose path has a space (as production's
// "/root/NEW START" does), and bash runners for the builders' scripts.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll } from "vitest";
import { resolveEnvironment, type EnvironmentSettings } from "../../src/deploy/environments.js";
import { sshKeygen } from "./ssh-keys.js";

export const repoRoot = resolve(import.meta.dirname, "../../..");
export const throwawayKey = (): string => sshKeygen().privateKey;
/** A known_hosts line for the unit tests' offline environments (never connected to): any host. */
export const someKnownHosts = [
  `* ssh-ed25519 ${Buffer.concat([Buffer.from([0, 0, 0, 11]), Buffer.from("ssh-ed25519"), Buffer.from([0, 0, 0, 32]), Buffer.alloc(32, 7)]).toString("base64")}`,
];
export const stagingJson = readFileSync(join(repoRoot, "deploy/environments/staging.json"), "utf8");
export const productionJson = readFileSync(
  join(repoRoot, "deploy/environments/production.json"),
  "utf8",
);
export const digest = (c: string) => `127.0.0.1:5000/qgo/backend@sha256:${c.repeat(64)}`;

/** A scratch directory for the file's tests (its path has a space), removed afterwards. */
export function useScratch(): () => string {
  let scratch = "";
  beforeAll(() => {
    scratch = mkdtempSync(join(tmpdir(), "qgo deploy unit "));
  });
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));
  return () => scratch;
}

/** Staging's settings with its app and backups dirs under `dir`. */
export function envIn(
  dir: string,
  overrides: Partial<EnvironmentSettings> = {},
): EnvironmentSettings {
  return resolveEnvironment("staging", stagingJson, {
    host: "127.0.0.1",
    appDir: join(dir, "NEW START"),
    backupsDir: join(dir, "back ups"),
    ...overrides,
  });
}

/** Runs bash without blocking the event loop (the health tests' HTTP server must answer). */
export function bashAsync(
  script: string,
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = spawn("bash", ["-c", script]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
}

export function bash(script: string, stdin?: string) {
  return spawnSync("bash", ["-c", script], { input: stdin ?? "", encoding: "utf8" });
}

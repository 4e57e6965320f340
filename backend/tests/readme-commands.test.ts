// The README's first commands, run as a new user runs them, on a fresh clone of the repository
// (its committed HEAD): "Quick start" (the set-up) and "Running the app locally" (a backend .env
// pointing at a real MariaDB, db:migrate, db:seed, both dev servers answering). Lines that cannot
// run inside this run are named and skipped on purpose: `apt-get install` (CI installed those
// packages: each is checked with dpkg), the test command (it is this very run) and `dagger call`
// (no engine on this machine). Any other line the README gains is run.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createEmptyDatabase } from "./support/database.js";

const repo = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const readme = readFileSync(join(repo, "README.md"), "utf8");

/** The first ```bash block under a `## heading`, one command per line (comments stay: bash drops them). */
function commandsUnder(heading: string): string[] {
  const section = readme.split(/^## /m).find((s) => s.startsWith(heading));
  const block = section && /```(?:bash|sh)\n([\s\S]*?)```/.exec(section)?.[1];
  if (!block) throw new Error(`README.md has no bash block under "## ${heading}"`);
  return block.split("\n").filter((line) => line.trim() !== "" && !line.trim().startsWith("#"));
}

const SKIPPED: [RegExp, string][] = [
  [/^apt-get install /, "installs Debian packages: CI installed them, each is checked below"],
  [/^npm test\b/, "the test command: this test runs inside it"],
  [/^dagger /, "needs a Dagger engine, which cannot run here"],
];

let clone = "";
let database: Awaited<ReturnType<typeof createEmptyDatabase>>;
const servers: ChildProcess[] = [];

function run(line: string, timeoutMs = 600_000): string {
  const result = spawnSync("bash", ["-euo", "pipefail", "-c", line], {
    cwd: clone,
    encoding: "utf8",
    timeout: timeoutMs,
    env: { ...process.env, CI: "true", npm_config_audit: "false", npm_config_fund: "false" },
  });
  if (result.status !== 0) {
    throw new Error(
      `\`${line}\` failed (exit ${result.status}):\n${(result.stdout ?? "").slice(-3000)}\n${(result.stderr ?? "").slice(-3000)}`,
    );
  }
  return result.stdout;
}

async function answers(url: string, timeoutMs: number): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(3000) });
      if (response.ok) return response;
      last = `HTTP ${response.status}`;
    } catch (error) {
      last = error;
    }
    await new Promise((ok) => setTimeout(ok, 500));
  }
  throw new Error(`${url} did not answer within ${timeoutMs / 1000} s: ${String(last)}`);
}

beforeAll(() => {
  clone = join(mkdtempSync(join(tmpdir(), "qgo-readme-")), "qgo");
  const cloned = spawnSync("git", ["clone", "-q", "--no-hardlinks", repo, clone], {
    encoding: "utf8",
  });
  if (cloned.status !== 0) throw new Error(`git clone failed: ${cloned.stderr}`);
}, 60_000);

/** Stops a dev server's whole process group (npm, sh, node --watch, vite): TERM, then KILL. */
async function stopGroup(pgid: number): Promise<void> {
  // A negative pid addresses the whole group; signal 0 only asks whether any member is left.
  const signal = (name: NodeJS.Signals | 0) => {
    try {
      process.kill(-pgid, name);
      return true;
    } catch {
      return false; // ESRCH: nobody left in the group
    }
  };
  signal("SIGTERM");
  for (let waited = 0; waited < 10_000 && signal(0); waited += 250)
    await new Promise((ok) => setTimeout(ok, 250));
  signal("SIGKILL");
}

afterAll(async () => {
  // Each dev server was started as the leader of its own process group (detached).
  for (const server of servers) if (server.pid) await stopGroup(server.pid);
  await database?.drop();
  if (clone)
    rmSync(dirname(clone), { recursive: true, force: true, maxRetries: 5, retryDelay: 500 });
}, 60_000);

describe("README commands on a fresh clone", () => {
  it("Quick start: the set-up commands run; the packages it installs are installed", () => {
    for (const line of commandsUnder("Quick start")) {
      const skip = SKIPPED.find(([pattern]) => pattern.test(line.trim()));
      if (skip?.[0].source === SKIPPED[0]![0].source) {
        const packages = line
          .split("#")[0]!
          .replace(/^\s*apt-get install\s+/, "")
          .split(/\s+/)
          .filter((p) => p !== "" && !p.startsWith("-"));
        expect(packages.length).toBeGreaterThan(0);
        for (const name of packages)
          expect(spawnSync("dpkg-query", ["-W", name]).status, `package ${name}`).toBe(0);
      } else if (!skip) {
        run(line);
      }
    }
  }, 900_000);

  it("Running the app locally: migrate and seed a real MariaDB, then the API and the dashboard answer", async () => {
    database = await createEmptyDatabase();
    for (const line of commandsUnder("Running the app locally")) {
      if (/^npm run dev /.test(line)) {
        const server = spawn("bash", ["-c", `exec ${line.split("#")[0]}`], {
          cwd: clone,
          detached: true,
          stdio: "ignore",
        });
        servers.push(server);
        continue;
      }
      run(line);
      if (line.includes("backend/.env.example")) {
        // What the line's comment tells a person to do: point DATABASE_URL at their database.
        const envFile = join(clone, "backend", ".env");
        const text = readFileSync(envFile, "utf8")
          .replace(/^DATABASE_URL=.*$/m, `DATABASE_URL=${database.url}`)
          .replace(/^HOST=.*$/m, "HOST=127.0.0.1");
        writeFileSync(envFile, text);
      }
    }
    expect(servers).toHaveLength(2);
    const health = await (await answers("http://127.0.0.1:5000/health", 120_000)).json();
    expect(health).toMatchObject({ status: "ok" });
    const page = await (await answers("http://127.0.0.1:5173/", 120_000)).text();
    expect(page).toContain('<div id="root">');
    // The dashboard's dev server proxies the API to the backend, which serves the seeded data.
    const list = (await (await answers("http://127.0.0.1:5173/api/shipments", 30_000)).json()) as {
      total: number;
      items: { trackingNumber: string }[];
    };
    expect(list.total).toBeGreaterThan(0);
    expect(list.items[0]?.trackingNumber).toMatch(/\S/);
  }, 900_000);
});

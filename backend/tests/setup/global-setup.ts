// Vitest global setup: makes a MySQL-compatible server available to every test file.
// - TEST_DATABASE_URL (or DATABASE_URL) set: that server is used (e.g. the MySQL service of
//   `dagger call test`). Its user must be allowed to create databases: each test file works in
//   a database of its own, created from the migration files and dropped afterwards.
// - otherwise: a throwaway `mariadbd` (or `mysqld`) from PATH is started in a temporary
//   directory on a free 127.0.0.1 port and removed at the end of the run.
// It also generates Prisma Client, which the tests import (it is not committed).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir, userInfo } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import mariadb from "mariadb";
import type { TestProject } from "vitest/node";

declare module "vitest" {
  export interface ProvidedContext {
    /** Server-level URL (mysql://user:pass@host:port/database); test files derive their own databases. */
    databaseUrl: string;
  }
}

const backendDir = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");

function generatePrismaClient(): void {
  const run = spawnSync(process.execPath, [join(backendDir, "scripts", "prisma-generate.mjs")], {
    cwd: backendDir,
    encoding: "utf8",
  });
  if (run.status !== 0) {
    throw new Error(`prisma generate failed (exit ${run.status}):\n${run.stdout}\n${run.stderr}`);
  }
}

/** PATH plus the sbin dirs, where Debian puts the server (not on a normal user's PATH). */
export const defaultSearchDirs = (): string[] => [
  ...(process.env.PATH ?? "").split(delimiter),
  "/usr/sbin",
  "/usr/local/sbin",
  "/usr/libexec",
];

/** First of `names` found in `dirs`. */
function findExecutable(names: string[], dirs: string[]): string | undefined {
  for (const name of names) {
    for (const dir of dirs) {
      if (dir && existsSync(join(dir, name))) return join(dir, name);
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() =>
        typeof address === "object" && address
          ? resolvePort(address.port)
          : reject(new Error("no port")),
      );
    });
  });
}

async function waitUntilAccepting(
  url: string,
  server: ChildProcess,
  logFile: string,
  timeoutMs: number,
): Promise<void> {
  const target = new URL(url);
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    if (server.exitCode !== null) {
      const log = existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-3000) : "(no log)";
      throw new Error(
        `The test database server exited with code ${server.exitCode} while starting:\n${log}`,
      );
    }
    try {
      const connection = await mariadb.createConnection({
        host: target.hostname,
        port: Number(target.port),
        user: decodeURIComponent(target.username),
        password: decodeURIComponent(target.password),
        connectTimeout: 1000,
      });
      await connection.end();
      return;
    } catch (error) {
      lastError = error;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  throw new Error(
    `The test database server did not accept connections within ${timeoutMs} ms: ${String(lastError)}`,
  );
}

export const NO_SERVER_MESSAGE =
  "The backend tests need a MySQL-compatible server, and none was found: neither `mariadbd` nor `mysqld` is on PATH " +
  "and TEST_DATABASE_URL/DATABASE_URL is not set. Install MariaDB (`apt-get install mariadb-server`; the tests start " +
  "their own throwaway server, the system service need not run), or set TEST_DATABASE_URL=mysql://USER:PASSWORD@HOST:PORT/DATABASE, " +
  "or run the tests in the pipeline with `dagger call test`.";

export interface ThrowawayServer {
  url: string;
  /** Temporary directory holding the data dir, socket and log; removed by stop(). */
  dir: string;
  stop(): Promise<void>;
}

export async function startThrowawayServer(
  searchDirs = defaultSearchDirs(),
): Promise<ThrowawayServer> {
  const serverBinary = findExecutable(["mariadbd", "mysqld"], searchDirs);
  if (!serverBinary) throw new Error(NO_SERVER_MESSAGE);
  const version = spawnSync(serverBinary, ["--version"], { encoding: "utf8" }).stdout ?? "";
  const isMariaDb = /mariadb/i.test(version);
  const dir = mkdtempSync(join(tmpdir(), "qgo-test-db-"));
  const dataDir = join(dir, "data");
  const logFile = join(dir, "server.log");
  const asRoot = userInfo().uid === 0;
  const userArgs = asRoot ? ["--user=root"] : [];

  let init;
  if (isMariaDb) {
    const installDb = findExecutable(["mariadb-install-db", "mysql_install_db"], searchDirs);
    if (!installDb) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(
        `Found ${serverBinary} but not mariadb-install-db to initialise it; install the mariadb-server package.`,
      );
    }
    init = spawnSync(
      installDb,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        ...userArgs,
      ],
      { encoding: "utf8" },
    );
  } else {
    init = spawnSync(
      serverBinary,
      ["--no-defaults", "--initialize-insecure", `--datadir=${dataDir}`, ...userArgs],
      {
        encoding: "utf8",
      },
    );
  }
  if (init.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(
      `Initialising the test database in ${dataDir} failed:\n${init.stdout}\n${init.stderr}`,
    );
  }

  const port = await freePort();
  const server = spawn(
    serverBinary,
    [
      "--no-defaults",
      `--datadir=${dataDir}`,
      `--socket=${join(dir, "mysqld.sock")}`,
      `--pid-file=${join(dir, "mysqld.pid")}`,
      `--log-error=${logFile}`,
      "--bind-address=127.0.0.1",
      `--port=${port}`,
      "--skip-log-bin",
      "--innodb-buffer-pool-size=64M",
      "--innodb-flush-log-at-trx-commit=2",
      "--character-set-server=utf8mb4",
      "--collation-server=utf8mb4_unicode_ci",
      ...(isMariaDb ? [] : ["--mysqlx=OFF"]),
      ...userArgs,
    ],
    { stdio: "ignore" },
  );
  const url = `mysql://root@127.0.0.1:${port}/qgo_test`;
  const stop = async () => {
    if (server.exitCode === null) {
      const exited = new Promise((r) => server.once("exit", r));
      server.kill("SIGTERM");
      const timer = setTimeout(() => server.kill("SIGKILL"), 15_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await waitUntilAccepting(url, server, logFile, 60_000);
  } catch (error) {
    await stop();
    throw error;
  }
  return { url, dir, stop };
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  generatePrismaClient();
  const given = process.env.TEST_DATABASE_URL || process.env.DATABASE_URL;
  if (given) {
    project.provide("databaseUrl", given);
    return async () => {};
  }
  const server = await startThrowawayServer();
  project.provide("databaseUrl", server.url);
  return () => server.stop();
}

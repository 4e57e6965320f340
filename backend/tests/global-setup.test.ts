// The throwaway database server of the global setup (tests/setup/global-setup.ts).
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import mariadb from "mariadb";
import { afterAll, describe, expect, it } from "vitest";
import { NO_SERVER_MESSAGE, startThrowawayServer } from "./setup/global-setup.js";

describe("throwaway test database server", () => {
  const emptyDir = mkdtempSync(join(tmpdir(), "qgo-no-server-"));
  afterAll(() => rmSync(emptyDir, { recursive: true, force: true }));

  it("fails with a message saying what to install when no server binary is found", async () => {
    await expect(startThrowawayServer([emptyDir])).rejects.toThrow(NO_SERVER_MESSAGE);
    expect(NO_SERVER_MESSAGE).toContain("apt-get install mariadb-server");
    expect(NO_SERVER_MESSAGE).toContain("dagger call test");
  });

  it("starts a server on 127.0.0.1 that accepts connections, and removes it completely", async () => {
    const server = await startThrowawayServer();
    const url = new URL(server.url);
    expect(url.hostname).toBe("127.0.0.1");
    const connection = await mariadb.createConnection({
      host: url.hostname,
      port: Number(url.port),
      user: "root",
    });
    const [row] = await connection.query<{ version: string }[]>("SELECT VERSION() AS version");
    await connection.end();
    expect(row?.version).toMatch(/^\d+\.\d+/);
    expect(existsSync(server.dir)).toBe(true);
    await server.stop();
    expect(existsSync(server.dir)).toBe(false);
    await expect(
      mariadb.createConnection({
        host: url.hostname,
        port: Number(url.port),
        user: "root",
        connectTimeout: 1000,
      }),
    ).rejects.toThrow();
  });
});

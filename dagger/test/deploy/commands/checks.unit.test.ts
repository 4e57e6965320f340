// The health checks against a real local HTTP server, and the logs' redaction with a stand-in
// docker on PATH.
import { createServer, type Server } from "node:http";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, bashAsync, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("checks", () => {
  describe("health check against a local HTTP server", () => {
    let server: Server;
    let port = 0;
    let healthyAfter = 0;
    let hits = 0;
    beforeAll(async () => {
      server = createServer((req, res) => {
        hits += 1;
        if (req.url === "/health" && hits > healthyAfter) {
          res
            .writeHead(200, { "content-type": "application/json" })
            .end(JSON.stringify({ status: "ok", db: "up", version: "2.0.0" }));
        } else if (req.url === "/") {
          res.writeHead(200).end("<html></html>");
        } else {
          res.writeHead(503).end(JSON.stringify({ status: "error", db: "down" }));
        }
      });
      await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
      port = (server.address() as { port: number }).port;
    });
    afterAll(() => server.close());

    const env = () =>
      envIn(scratch(), {
        healthUrls: {
          backend: `http://127.0.0.1:${port}/health`,
          frontend: `http://127.0.0.1:${port}/`,
        },
        health: { attempts: 3, initialDelaySeconds: 1, maxDelaySeconds: 1, timeoutSeconds: 2 },
      });

    it("passes once the backend turns healthy with the expected version (retries)", async () => {
      hits = 0;
      healthyAfter = 1;
      const result = await bashAsync(commands.healthCheck(env(), "2.0.0").script);
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain("attempt 1:");
      expect(result.stdout).toContain(`healthy: http://127.0.0.1:${port}/health (attempt 2)`);
    });

    it("fails when the serving version is not the expected one", async () => {
      hits = 0;
      healthyAfter = 0;
      const result = await bashAsync(commands.healthCheck(env(), "3.0.0").script);
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("UNHEALTHY");
      expect(result.stdout).toContain("answered but not as expected");
    }, 20_000);
  });
});

describe("logs", () => {
  it("replaces every value of the server's .env and any URL password with *** before the logs leave the server", () => {
    const env = envIn(join(scratch(), "logs"));
    mkdirSync(env.appDir, { recursive: true });
    writeFileSync(
      join(env.appDir, ".env"),
      [
        "# server secrets",
        "MYSQL_ROOT_PASSWORD=r00t-S3cret",
        "export MYSQL_PASSWORD='app-S3cret'",
        "MYSQL_DATABASE=qgo",
        "SHORT=abc",
        "",
      ].join("\n"),
    );
    // A stand-in `docker` on PATH prints what `docker compose logs` would, secrets included.
    const bin = join(scratch(), "logs-bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "docker"),
      [
        "#!/bin/bash",
        'echo "args: $*"',
        "echo 'backend-1  | connecting with r00t-S3cret twice: r00t-S3cret'",
        "echo 'backend-1  | DATABASE_URL=mysql://qgo:app-S3cret@db:3306/qgo'",
        "echo 'backend-1  | redis://u:other-pass@cache:6379 database qgo abc'",
      ].join("\n"),
      { mode: 0o755 },
    );
    const out = bash(`PATH='${bin}':"$PATH"\n${commands.appLogs(env, 50, "backend").script}`);
    expect(out.stderr).toBe("");
    expect(out.stdout).toContain("logs --no-color --timestamps --tail 50 backend");
    expect(out.stdout).toContain("connecting with *** twice: ***");
    expect(out.stdout).toContain("mysql://qgo:***@db:3306/qgo");
    expect(out.stdout).toContain("redis://u:***@cache:6379 database qgo abc");
    expect(out.stdout).not.toMatch(/S3cret|other-pass/);
  });
});

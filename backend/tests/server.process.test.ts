// The server as a process (src/server.ts): configuration checked at start-up with a clear
// message, and a graceful SIGTERM that lets a request in flight finish before exiting 0.
import { spawn, type ChildProcess } from "node:child_process";
import { request as httpRequest } from "node:http";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "./support/database.js";

const backendDir = resolve(import.meta.dirname, "..");

interface Run {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startServer(env: Record<string, string>): Run {
  const child = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: backendDir,
    env: { PATH: process.env.PATH ?? "", LOG_LEVEL: "info", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolveExit) =>
    child.once("exit", (code) => resolveExit(code)),
  );
  return { child, output: () => output, exited };
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const address = probe.address();
  await new Promise<void>((r) => probe.close(() => r()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe("start-up configuration check", () => {
  it("exits 1 naming every bad variable, without a stack trace", async () => {
    const run = startServer({ PORT: "http", LOG_LEVEL: "chatty" });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("Invalid configuration (see backend/.env.example):");
    expect(run.output()).toContain(
      "DATABASE_URL is not set; set it to mysql://USER:PASSWORD@HOST:3306/DATABASE",
    );
    expect(run.output()).toContain("PORT must be a number");
    expect(run.output()).toContain("LOG_LEVEL must be one of");
    expect(run.output()).not.toMatch(/\n\s+at /);
  });

  it("exits 1 when UPLOAD_DIR cannot be used", async () => {
    const run = startServer({
      DATABASE_URL: "mysql://u:p@127.0.0.1:1/db",
      UPLOAD_DIR: "/dev/null/uploads",
    });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("UPLOAD_DIR (/dev/null/uploads) is not a writable directory");
  });
});

describe("graceful shutdown", () => {
  let db: TestDatabase;
  const dirs: string[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(async () => {
    await db?.drop();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it("on SIGTERM stops accepting, finishes the upload in flight, closes the log and exits 0", async () => {
    const shipment = await db.prisma.shipment.create({
      data: {
        trackingNumber: "QGO-SIGTERM-01",
        customerName: "Fjord Marine",
        origin: "Bergen",
        destination: "Cape Town",
        weightKg: 12,
      },
    });
    const root = mkdtempSync(join(tmpdir(), "qgo server "));
    dirs.push(root);
    const port = await freePort();
    const run = startServer({
      DATABASE_URL: db.url,
      HOST: "127.0.0.1",
      PORT: String(port),
      UPLOAD_DIR: join(root, "uploads"),
      LOG_DIR: join(root, "logs"),
      APP_VERSION: "3.1.4",
      GIT_COMMIT: "deadbee",
    });
    try {
      await waitFor(() => run.output().includes("listening on"), "the server to listen");

      // Start an upload and leave it unfinished.
      const boundary = "qgo-boundary";
      const head = Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="manifest.pdf"\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\n`,
      );
      const tail = Buffer.from(`%%EOF\n\r\n--${boundary}--\r\n`);
      const response = new Promise<{ status: number; body: string }>((resolveResponse, reject) => {
        const req = httpRequest(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: `/api/shipments/${shipment.id}/documents`,
            headers: {
              "Content-Type": `multipart/form-data; boundary=${boundary}`,
              "Content-Length": head.length + tail.length,
            },
          },
          (res) => {
            let body = "";
            res.on("data", (chunk: Buffer) => (body += chunk.toString()));
            res.on("end", () => resolveResponse({ status: res.statusCode ?? 0, body }));
          },
        );
        req.on("error", reject);
        req.write(head);
        setTimeout(() => {
          run.child.kill("SIGTERM");
          setTimeout(() => req.end(tail), 500);
        }, 300);
      });

      await waitFor(() => run.output().includes("shutting down"), "the shutdown to start");
      // New connections are refused while the upload is still open.
      const refused = await fetch(`http://127.0.0.1:${port}/health`).then(
        () => false,
        () => true,
      );
      expect(refused).toBe(true);

      const finished = await response;
      expect(finished.status).toBe(201);
      expect(JSON.parse(finished.body)).toMatchObject({
        originalName: "manifest.pdf",
        shipmentId: shipment.id,
      });
      // Without waiting for the keep-alive connection's timeout (nor the 10 s shutdown limit).
      const answeredAt = Date.now();
      expect(await run.exited).toBe(0);
      expect(Date.now() - answeredAt).toBeLessThan(3_000);
      expect(run.output()).not.toContain("requests still open");
      expect(run.output()).toContain('"msg":"stopped"');
      expect(readdirSync(join(root, "uploads"))).toHaveLength(1);
      const logFiles = readdirSync(join(root, "logs"));
      expect(logFiles).toHaveLength(1);
      expect(await db.prisma.document.count({ where: { shipmentId: shipment.id } })).toBe(1);
    } finally {
      if (run.child.exitCode === null) run.child.kill("SIGKILL");
    }
  });
});

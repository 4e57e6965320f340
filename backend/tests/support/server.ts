// Runs the real Express app on 127.0.0.1 (an ephemeral port) for HTTP tests with supertest.
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { createApp } from "../../src/app.js";
import type { PrismaClient } from "../../src/db.js";

export interface TestServer {
  baseUrl: string;
  uploadDir: string;
  close(): Promise<void>;
}

export async function startTestServer(
  prisma: PrismaClient,
  options: { maxUploadBytes?: number; version?: string; commit?: string } = {},
): Promise<TestServer> {
  const uploadDir = mkdtempSync(join(tmpdir(), "qgo test uploads "));
  const app = createApp({
    prisma,
    logger: pino({ level: "silent" }),
    config: {
      uploadDir,
      maxUploadBytes: options.maxUploadBytes ?? 1024 * 1024,
      version: options.version ?? "1.2.3-test",
      commit: options.commit ?? "abc1234",
    },
  });
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (address === null || typeof address === "string")
    throw new Error("test server has no TCP address");
  return {
    baseUrl: `http://127.0.0.1:${address.port}`,
    uploadDir,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(uploadDir, { recursive: true, force: true });
    },
  };
}

// GET /health: 200 with the database up, 503 when it cannot be reached; errors never leak internals.
import request from "supertest";
import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createPrismaClient } from "../src/db.js";
import { createTestDatabase, type TestDatabase } from "./support/database.js";
import { startTestServer, type TestServer } from "./support/server.js";

let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db.prisma, { version: "2.0.1", commit: "c0ffee1" });
});

afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** A port on 127.0.0.1 with nothing listening. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

describe("GET /health", () => {
  it("answers 200 with status, db, version, commit and uptime when the database answers", async () => {
    const response = await request(server.baseUrl).get("/health").expect(200);
    expect(response.body).toEqual({
      status: "ok",
      db: "up",
      version: "2.0.1",
      commit: "c0ffee1",
      uptime: expect.any(Number) as number,
    });
    expect(response.headers["cache-control"]).toBe("no-store");
  });

  describe("with the database unreachable", () => {
    let down: TestServer;
    let unreachable: ReturnType<typeof createPrismaClient>;

    beforeAll(async () => {
      const port = await closedPort();
      unreachable = createPrismaClient(`mysql://root:secret-pw@127.0.0.1:${port}/qgo`);
      down = await startTestServer(unreachable);
    });

    afterAll(async () => {
      await down?.close();
      await unreachable?.$disconnect();
    });

    it("answers 503 with db down, within the health timeout", async () => {
      const started = Date.now();
      const response = await request(down.baseUrl).get("/health").expect(503);
      expect(Date.now() - started).toBeLessThan(4_000);
      expect(response.body).toMatchObject({ status: "error", db: "down", version: "1.2.3-test" });
    });

    it("answers API calls with 503 DATABASE_UNAVAILABLE, no stack trace or connection details", async () => {
      const response = await request(down.baseUrl).get("/api/shipments").expect(503);
      expect(response.body).toEqual({
        error: "The database is not reachable right now. Try again in a moment.",
        code: "DATABASE_UNAVAILABLE",
      });
      expect(response.text).not.toMatch(/secret-pw|at .*\.js|127\.0\.0\.1/);
    });

    it("answers a single-record read with the same 503 (the driver's pool timeout path)", async () => {
      const response = await request(down.baseUrl).get("/api/shipments/1").expect(503);
      expect(response.body).toMatchObject({ code: "DATABASE_UNAVAILABLE" });
    });
  });
});

// The error handler's mapping for errors that routes do not shape themselves.
import express from "express";
import request from "supertest";
import { describe, expect, it } from "vitest";
import { errorHandler } from "../src/http/errors.js";
import { Prisma } from "../src/generated/prisma/client.js";

function appThrowing(error: unknown) {
  const logged: string[] = [];
  const logger = {
    error: (_obj: object, msg: string) => logged.push(msg),
    warn: (_obj: object, msg: string) => logged.push(msg),
  };
  const app = express();
  app.get("/boom", () => {
    throw error;
  });
  app.use(errorHandler(logger, 10 * 1024 * 1024));
  return { app, logged };
}

describe("errorHandler", () => {
  it("answers an unexpected error with a plain 500 and logs it, leaking nothing", async () => {
    const { app, logged } = appThrowing(
      new Error("ER_ACCESS_DENIED for root@10.0.0.5 at db.js:12"),
    );
    const response = await request(app).get("/boom").expect(500);
    expect(response.body).toEqual({ error: "Internal server error.", code: "INTERNAL" });
    expect(response.text).not.toMatch(/ER_ACCESS|10\.0\.0\.5|db\.js/);
    expect(logged).toEqual(["unhandled error"]);
  });

  it("answers a query error that is not about reaching the database with 500, not 503", async () => {
    const error = new Prisma.PrismaClientKnownRequestError("Database error", {
      code: "P2039",
      clientVersion: "7",
      meta: {
        driverAdapterError: { cause: { message: "Deadlock found when trying to get lock" } },
      },
    });
    const response = await request(appThrowing(error).app).get("/boom").expect(500);
    expect(response.body).toEqual({ error: "Internal server error.", code: "INTERNAL" });
  });
});

// GET /health: 200 when the database answers, 503 when it does not. Deploy health checks
// (Docker HEALTHCHECK, compose, the pipeline's smoke test) call it.
import { Router } from "express";
import { databaseIsUp, type PrismaClient } from "../db.js";

export function healthRouter(
  prisma: PrismaClient,
  info: { version: string; commit: string },
): Router {
  const router = Router();
  router.get("/", async (_req, res) => {
    const up = await databaseIsUp(prisma);
    res.setHeader("Cache-Control", "no-store");
    res.status(up ? 200 : 503).json({
      status: up ? "ok" : "error",
      db: up ? "up" : "down",
      version: info.version,
      commit: info.commit,
      uptime: Math.round(process.uptime()),
    });
  });
  return router;
}

// The Express application, built from its dependencies so tests can run it against a real
// database without the process-level concerns of server.ts.
import express, { type RequestHandler } from "express";
import type { Config } from "./config.js";
import type { PrismaClient } from "./db.js";
import { errorHandler, unknownRoute } from "./http/errors.js";
import type { Logger } from "./logger.js";
import { documentsRouter } from "./routes/documents.js";
import { healthRouter } from "./routes/health.js";
import { shipmentsRouter } from "./routes/shipments.js";

export interface AppDependencies {
  config: Pick<Config, "uploadDir" | "maxUploadBytes" | "version" | "commit">;
  prisma: PrismaClient;
  logger: Logger;
}

function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = process.hrtime.bigint();
    res.on("finish", () => {
      const entry = {
        method: req.method,
        url: req.originalUrl,
        status: res.statusCode,
        ms: Number((process.hrtime.bigint() - started) / 1_000_000n),
      };
      // Health probes arrive every few seconds: keep them out of the info log unless failing.
      if (req.originalUrl.split("?")[0] === "/health" && res.statusCode === 200)
        logger.debug(entry, "request");
      else logger.info(entry, "request");
    });
    next();
  };
}

export function createApp({ config, prisma, logger }: AppDependencies): express.Express {
  const app = express();
  app.disable("x-powered-by");
  // nginx in front: client addresses come from X-Forwarded-For set by the local proxy.
  app.set("trust proxy", "loopback, uniquelocal");
  app.use(requestLog(logger));
  app.use("/health", healthRouter(prisma, config));

  const api = express.Router();
  api.use(express.json({ limit: "100kb" }));
  api.use("/shipments/:id/documents", documentsRouter(prisma, config));
  api.use("/shipments", shipmentsRouter(prisma));
  app.use("/api", api);

  app.use(unknownRoute);
  app.use(errorHandler(logger, config.maxUploadBytes));
  return app;
}

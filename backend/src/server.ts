// Process entry point: validate the configuration, prepare directories, serve, and shut down
// gracefully on SIGTERM/SIGINT (stop accepting, finish in-flight requests, close the pool).
import { accessSync, constants, mkdirSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, type Config } from "./config.js";
import { createPrismaClient, databaseIsUp } from "./db.js";
import { createLogger } from "./logger.js";

function ensureWritableDir(path: string, variable: string): void {
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.W_OK);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([
      `${variable} (${path}) is not a writable directory: ${reason}. Create it or point ${variable} elsewhere.`,
    ]);
  }
}

function listen(server: Server, config: Config): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once("error", (error: NodeJS.ErrnoException) => {
      reject(
        error.code === "EADDRINUSE"
          ? new Error(
              `Port ${config.port} on ${config.host} is already in use; set PORT to a free port.`,
            )
          : error,
      );
    });
    server.listen(config.port, config.host, () => resolve());
  });
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
    ensureWritableDir(config.uploadDir, "UPLOAD_DIR");
    if (config.logToFile) ensureWritableDir(config.logDir, "LOG_DIR");
  } catch (error) {
    console.error(error instanceof Error ? error.message : String(error));
    process.exit(1);
  }

  const { logger, close: closeLog } = await createLogger(config);
  const prisma = createPrismaClient(config.databaseUrl);
  const server = createServer(createApp({ config, prisma, logger }));
  // Behind nginx: keep idle connections a little longer than nginx's upstream keepalive.
  server.keepAliveTimeout = 65_000;

  try {
    await listen(server, config);
  } catch (error) {
    logger.fatal({ err: error }, error instanceof Error ? error.message : "cannot listen");
    await closeLog();
    process.exit(1);
  }
  logger.info(
    { port: config.port, host: config.host, uploadDir: config.uploadDir, logDir: config.logDir },
    `QGO Cargo backend ${config.version} (${config.commit}) listening on ${config.host}:${config.port}`,
  );
  let stopping = false;
  const shutdown = async (signal: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: no new connections, finishing requests in flight");
    const force = setTimeout(() => {
      logger.warn("requests still open after the shutdown timeout; closing them");
      server.closeAllConnections();
    }, config.shutdownTimeoutMs);
    force.unref();
    // Keep-alive connections (nginx upstreams) become idle once their request is answered:
    // close them as they do, so shutdown does not wait for the keep-alive timeout.
    const idleSweep = setInterval(() => server.closeIdleConnections(), 100);
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeIdleConnections();
    });
    clearInterval(idleSweep);
    clearTimeout(force);
    await prisma
      .$disconnect()
      .catch((error: unknown) => logger.error({ err: error }, "closing the database pool failed"));
    logger.info("stopped");
    await closeLog();
    process.exit(0);
  };
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
  process.on("unhandledRejection", (reason) => {
    logger.error({ err: reason }, "unhandled promise rejection");
  });

  if (!(await databaseIsUp(prisma, 5_000))) {
    logger.warn("database not reachable yet; /health answers 503 until it is");
  }
}

void main();

// Structured JSON logs (pino) to stdout and, unless LOG_TO_FILE=false, to LOG_DIR/app.<date>.<n>.log,
// rotated daily and at 10 MB, keeping the last 14 files. Secrets are redacted.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { pino, type Logger, type StreamEntry } from "pino";
import pinoRoll from "pino-roll";
import type { Config } from "./config.js";

export type { Logger };

export interface AppLogger {
  logger: Logger;
  /** Flushes and closes the log file; call last during shutdown. */
  close: () => Promise<void>;
}

const REDACT = [
  "req.headers.authorization",
  "req.headers.cookie",
  "databaseUrl",
  "config.databaseUrl",
  "password",
  "*.password",
];

export async function createLogger(
  config: Pick<Config, "logLevel" | "logDir" | "logToFile" | "version" | "commit">,
): Promise<AppLogger> {
  const streams: StreamEntry[] = [{ level: "trace", stream: process.stdout }];
  let fileStream: Awaited<ReturnType<typeof pinoRoll>> | undefined;
  if (config.logToFile) {
    mkdirSync(config.logDir, { recursive: true });
    fileStream = await pinoRoll({
      file: join(config.logDir, "app"),
      extension: ".log",
      frequency: "daily",
      dateFormat: "yyyy-MM-dd",
      size: "10m",
      mkdir: true,
      limit: { count: 14 },
    });
    streams.push({ level: "trace", stream: fileStream });
  }
  const logger = pino(
    {
      level: config.logLevel,
      base: { service: "qgo-backend", version: config.version, commit: config.commit },
      redact: { paths: REDACT, censor: "[redacted]" },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.multistream(streams),
  );
  return {
    logger,
    close: () =>
      new Promise<void>((resolve) => {
        if (!fileStream) return resolve();
        fileStream.once("close", () => resolve());
        fileStream.once("error", () => resolve());
        fileStream.end();
      }),
  };
}

// Configuration from the environment, validated once at start-up so that a bad value stops the
// server with a message naming the variable and the fix, instead of failing on first use.
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** backend/ (this file is backend/src/config.ts, or backend/dist/config.js once built). */
export const BACKEND_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const databaseUrl = z
  .string({ error: "is not set; set it to mysql://USER:PASSWORD@HOST:3306/DATABASE" })
  .trim()
  .min(1, "is empty; set it to mysql://USER:PASSWORD@HOST:3306/DATABASE")
  .refine((value) => /^(mysql|mariadb):\/\/[^/]+\/[^/?]+/.test(value), {
    error:
      "must look like mysql://USER:PASSWORD@HOST:3306/DATABASE (mysql:// or mariadb://, with a database name)",
  });

const port = z.coerce
  .number({ error: "must be a number" })
  .int("must be a whole number")
  .min(1, "must be between 1 and 65535")
  .max(65535, "must be between 1 and 65535");

const envSchema = z.object({
  DATABASE_URL: databaseUrl,
  PORT: port.default(5000),
  HOST: z.string().trim().min(1).default("0.0.0.0"),
  UPLOAD_DIR: z.string().trim().min(1).default(resolve(BACKEND_ROOT, "uploads")),
  LOG_DIR: z.string().trim().min(1).default(resolve(BACKEND_ROOT, "logs")),
  LOG_LEVEL: z
    .enum(LOG_LEVELS, { error: `must be one of ${LOG_LEVELS.join(", ")}` })
    .default("info"),
  LOG_TO_FILE: z
    .enum(["true", "false"], { error: "must be true or false" })
    .default("true")
    .transform((value) => value === "true"),
  MAX_UPLOAD_MB: z.coerce
    .number({ error: "must be a number" })
    .positive("must be greater than 0")
    .max(100, "must be at most 100")
    .default(10),
  APP_VERSION: z.string().trim().min(1).default("dev"),
  GIT_COMMIT: z.string().trim().min(1).default("unknown"),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().positive().default(10_000),
});

export interface Config {
  databaseUrl: string;
  port: number;
  host: string;
  uploadDir: string;
  logDir: string;
  logLevel: (typeof LOG_LEVELS)[number];
  logToFile: boolean;
  maxUploadBytes: number;
  version: string;
  commit: string;
  shutdownTimeoutMs: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      `Invalid configuration (see backend/.env.example):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    );
    this.name = "ConfigError";
  }
}

/** Empty strings count as unset, as in a compose file's `VAR=` line. */
function withoutEmpty(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "",
    ),
  );
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(withoutEmpty(env));
  if (!parsed.success) {
    throw new ConfigError(
      parsed.error.issues.map(
        (issue) => `${issue.path.join(".") || "environment"} ${issue.message}`,
      ),
    );
  }
  const values = parsed.data;
  return {
    databaseUrl: values.DATABASE_URL,
    port: values.PORT,
    host: values.HOST,
    uploadDir: resolve(values.UPLOAD_DIR),
    logDir: resolve(values.LOG_DIR),
    logLevel: values.LOG_LEVEL,
    logToFile: values.LOG_TO_FILE,
    maxUploadBytes: Math.round(values.MAX_UPLOAD_MB * 1024 * 1024),
    version: values.APP_VERSION,
    commit: values.GIT_COMMIT,
    shutdownTimeoutMs: values.SHUTDOWN_TIMEOUT_MS,
  };
}

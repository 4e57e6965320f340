// Error responses. Every error body is { error: message, code, fields? }; a stack trace or an
// internal message never reaches a client (unexpected errors are logged and answered with 500).
import type { ErrorRequestHandler, RequestHandler } from "express";
import multer from "multer";
import { z } from "zod";
import { Prisma } from "../generated/prisma/client.js";

export type FieldErrors = Record<string, string[]>;

export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly fields?: FieldErrors,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export const notFound = (what: string): HttpError =>
  new HttpError(404, "NOT_FOUND", `${what} not found.`);

/** zod issues -> { "field.path": [messages] }; issues on the whole body go under "_". */
export function fieldErrorsOf(error: z.ZodError): FieldErrors {
  const fields: FieldErrors = {};
  for (const issue of error.issues) {
    const key = issue.path.length > 0 ? issue.path.join(".") : "_";
    (fields[key] ??= []).push(issue.message);
  }
  return fields;
}

export function validationError(error: z.ZodError, where = "request"): HttpError {
  const fields = fieldErrorsOf(error);
  const names = Object.keys(fields).filter((name) => name !== "_");
  const message =
    names.length > 0 ? `Invalid ${where}: check ${names.join(", ")}.` : `Invalid ${where}.`;
  return new HttpError(400, "VALIDATION_FAILED", message, fields);
}

export const unknownRoute: RequestHandler = (req, _res, next) => {
  next(new HttpError(404, "NOT_FOUND", `No route for ${req.method} ${req.path}.`));
};

interface Logger {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Prisma's "cannot reach / lost the server" codes, and P2028: a transaction that could not
 * even start in time (what a multi-query read reports when the pool gets no connection).
 */
const UNREACHABLE_CODES = new Set(["P1001", "P1002", "P1008", "P1017", "P2028"]);
/** What the MariaDB driver reports through the adapter when it gets no connection. */
const UNREACHABLE_DRIVER_ERROR =
  /pool timeout|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND/;

/** The database could not be reached (as opposed to a query that failed on a live server). */
function isDatabaseUnavailable(error: Prisma.PrismaClientKnownRequestError): boolean {
  if (UNREACHABLE_CODES.has(error.code)) return true;
  const driverError = (error.meta as { driverAdapterError?: unknown } | undefined)
    ?.driverAdapterError;
  return driverError !== undefined && UNREACHABLE_DRIVER_ERROR.test(JSON.stringify(driverError));
}

function toHttpError(error: unknown, maxUploadBytes: number): HttpError | undefined {
  if (error instanceof HttpError) return error;
  if (
    error instanceof Prisma.PrismaClientInitializationError ||
    (error instanceof Prisma.PrismaClientKnownRequestError && isDatabaseUnavailable(error))
  ) {
    return new HttpError(
      503,
      "DATABASE_UNAVAILABLE",
      "The database is not reachable right now. Try again in a moment.",
    );
  }
  if (error instanceof z.ZodError) return validationError(error);
  if (error instanceof multer.MulterError) {
    if (error.code === "LIMIT_FILE_SIZE") {
      return new HttpError(
        413,
        "FILE_TOO_LARGE",
        `The file is larger than the ${Math.round(maxUploadBytes / 1024 / 1024)} MB limit.`,
        { file: ["is too large"] },
      );
    }
    return new HttpError(400, "BAD_UPLOAD", `Upload rejected: ${error.message}.`, {
      [error.field ?? "file"]: [error.message],
    });
  }
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") {
    return new HttpError(409, "CONFLICT", "A record with the same unique value already exists.");
  }
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2025") {
    return new HttpError(404, "NOT_FOUND", "Record not found.");
  }
  // body-parser errors carry an HTTP status and `expose` when the message is meant for clients.
  if (typeof error === "object" && error !== null && "status" in error && "expose" in error) {
    const { status, expose, type } = error as { status: unknown; expose: unknown; type?: unknown };
    if (typeof status === "number" && status >= 400 && status < 500 && expose === true) {
      const message =
        type === "entity.parse.failed"
          ? "The request body is not valid JSON."
          : "The request could not be read.";
      return new HttpError(status, "BAD_REQUEST", message);
    }
  }
  return undefined;
}

export function errorHandler(logger: Logger, maxUploadBytes: number): ErrorRequestHandler {
  return (error: unknown, req, res, _next) => {
    if (res.headersSent) {
      // Failed mid-response (e.g. a download cut off): nothing more can be sent.
      logger.warn(
        { err: error, method: req.method, url: req.originalUrl },
        "error after response started",
      );
      res.destroy();
      return;
    }
    const httpError = toHttpError(error, maxUploadBytes);
    if (httpError === undefined) {
      logger.error({ err: error, method: req.method, url: req.originalUrl }, "unhandled error");
      res.status(500).json({ error: "Internal server error.", code: "INTERNAL" });
      return;
    }
    if (httpError.status >= 500) logger.error({ err: error }, httpError.message);
    res.status(httpError.status).json({
      error: httpError.message,
      code: httpError.code,
      ...(httpError.fields ? { fields: httpError.fields } : {}),
      ...(httpError.details ?? {}),
    });
  };
}

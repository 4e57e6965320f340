import { resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { BACKEND_ROOT, ConfigError, loadConfig } from "../src/config.js";

const url = "mysql://qgo:s3cret@db:3306/qgo";

describe("loadConfig", () => {
  it("applies the documented defaults", () => {
    const config = loadConfig({ DATABASE_URL: url });
    expect(config).toMatchObject({
      databaseUrl: url,
      port: 5000,
      host: "0.0.0.0",
      uploadDir: resolve(BACKEND_ROOT, "uploads"),
      logDir: resolve(BACKEND_ROOT, "logs"),
      logLevel: "info",
      logToFile: true,
      maxUploadBytes: 10 * 1024 * 1024,
      version: "dev",
      commit: "unknown",
    });
  });

  it("reads every variable", () => {
    const config = loadConfig({
      DATABASE_URL: "mariadb://u:p@127.0.0.1:3307/other",
      PORT: "5001",
      HOST: "127.0.0.1",
      UPLOAD_DIR: "/srv/qgo uploads",
      LOG_DIR: "/var/log/qgo",
      LOG_LEVEL: "debug",
      LOG_TO_FILE: "false",
      MAX_UPLOAD_MB: "2.5",
      APP_VERSION: "1.4.0",
      GIT_COMMIT: "0123abc",
      SHUTDOWN_TIMEOUT_MS: "3000",
    });
    expect(config).toEqual({
      databaseUrl: "mariadb://u:p@127.0.0.1:3307/other",
      port: 5001,
      host: "127.0.0.1",
      uploadDir: "/srv/qgo uploads",
      logDir: "/var/log/qgo",
      logLevel: "debug",
      logToFile: false,
      maxUploadBytes: 2.5 * 1024 * 1024,
      version: "1.4.0",
      commit: "0123abc",
      shutdownTimeoutMs: 3000,
    });
  });

  it("names every bad variable and how to fix it", () => {
    let error: unknown;
    try {
      loadConfig({ PORT: "http", LOG_LEVEL: "loud" });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toContain(
      "DATABASE_URL is not set; set it to mysql://USER:PASSWORD@HOST:3306/DATABASE",
    );
    expect(message).toContain("PORT must be a number");
    expect(message).toContain(
      "LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent",
    );
    expect((error as ConfigError).problems).toHaveLength(3);
  });

  it.each([
    ["postgres://u:p@h:5432/db", "must look like mysql://"],
    ["mysql://u:p@h:3306", "must look like mysql://"],
    ["   ", "is empty"],
  ])("rejects DATABASE_URL=%j", (value, expected) => {
    expect(() => loadConfig({ DATABASE_URL: value })).toThrow(expected);
  });

  it("rejects an out-of-range port and treats empty values as unset", () => {
    expect(() => loadConfig({ DATABASE_URL: url, PORT: "70000" })).toThrow(
      "PORT must be between 1 and 65535",
    );
    expect(loadConfig({ DATABASE_URL: url, PORT: "", APP_VERSION: "" })).toMatchObject({
      port: 5000,
      version: "dev",
    });
  });

  it("never puts the database password in its error message", () => {
    expect(() => loadConfig({ DATABASE_URL: url, PORT: "0" })).toThrow(/PORT/);
    try {
      loadConfig({ DATABASE_URL: url, PORT: "0" });
    } catch (error) {
      expect(String(error)).not.toContain("s3cret");
    }
  });
});

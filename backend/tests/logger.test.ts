import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { createLogger } from "../src/logger.js";

describe("createLogger", () => {
  const dirs: string[] = [];
  afterEach(() => {
    vi.restoreAllMocks();
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it("writes JSON lines to a dated, numbered file under LOG_DIR and to stdout, with secrets redacted", async () => {
    const logDir = join(mkdtempSync(join(tmpdir(), "qgo logs ")), "nested");
    dirs.push(logDir, join(logDir, ".."));
    const stdout: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      stdout.push(String(chunk));
      return true;
    });
    const { logger, close } = await createLogger({
      logLevel: "info",
      logDir,
      logToFile: true,
      version: "9.9.9",
      commit: "feedbee",
    });
    logger.info({ shipmentId: 7, password: "hunter2" }, "shipment created");
    logger.debug("not at info level");
    await close();

    const files = readdirSync(logDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^app\.\d{4}-\d{2}-\d{2}\.1\.log$/);
    const lines = readFileSync(join(logDir, files[0] ?? ""), "utf8")
      .trim()
      .split("\n");
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0] ?? "{}") as Record<string, unknown>;
    expect(entry).toMatchObject({
      msg: "shipment created",
      shipmentId: 7,
      password: "[redacted]",
      service: "qgo-backend",
      version: "9.9.9",
      commit: "feedbee",
      level: 30,
    });
    expect(typeof entry.time).toBe("string");
    expect(stdout.join("")).toContain('"msg":"shipment created"');
    expect(stdout.join("")).not.toContain("hunter2");
  });

  it("writes no file when LOG_TO_FILE is false", async () => {
    const logDir = join(mkdtempSync(join(tmpdir(), "qgo-logs-")), "unused");
    dirs.push(join(logDir, ".."));
    vi.spyOn(process.stdout, "write").mockImplementation(() => true);
    const { logger, close } = await createLogger({
      logLevel: "info",
      logDir,
      logToFile: false,
      version: "1",
      commit: "c",
    });
    logger.info("only stdout");
    await close();
    expect(readdirSync(join(logDir, ".."))).toEqual([]);
  });
});

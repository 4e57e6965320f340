// Shared set-up for the recorded-chain tests: one stand-in engine per test file, the repository
// checkout as the contextual source directory, and the zero-invalid-queries check.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { afterAll, beforeAll, beforeEach, expect, it } from "vitest";

import { REPO_ROOT, StandInEngine, type CallResult } from "../standin/engine.js";

export interface Fixture {
  engine: StandInEngine;
  /** The Directory ID the engine would load for `source` (defaultPath "/"). */
  source: string;
  /** `dagger call <fn> [args]` with optional constructor options; fails on an invalid query. */
  call(
    fn: string,
    args?: Record<string, unknown>,
    options?: Record<string, unknown>,
  ): Promise<CallResult>;
}

export function useStandIn(): Fixture {
  const fixture = {} as Fixture;
  beforeAll(async () => {
    fixture.engine = await StandInEngine.start();
    fixture.source = fixture.engine.hostDirectory(REPO_ROOT, ["**/node_modules", ".git"]);
    fixture.call = async (fn, args = {}, options = {}) => {
      const result = await fixture.engine.invoke(fn, args, { source: fixture.source, ...options });
      if (result.invalidQueries.length > 0) {
        throw new Error(`invalid queries:\n${JSON.stringify(result.invalidQueries, null, 2)}`);
      }
      return result;
    };
  });
  beforeEach(() => {
    fixture.engine.clearResponders();
    fixture.engine.setLatency(0);
  });
  afterAll(async () => {
    await fixture.engine?.stop();
  });
  return fixture;
}

/** Registers, as the file's last test, the check that every query sent was valid. */
export function everyQueryValid(fixture: Fixture): void {
  it("every query the module sent in this file is valid against the v0.21.8 engine schema", () => {
    const { engine } = fixture;
    console.log(
      engine.validating
        ? `validated ${engine.allQueries.length} queries against ${engine.schemaPath}`
        : `NOT validated (no schema at ${engine.schemaPath}): ${engine.allQueries.length} queries recorded`,
    );
    expect(engine.allQueries.length).toBeGreaterThan(0);
    expect(engine.allQueries.filter((query) => query.invalid.length > 0)).toEqual([]);
  });
}

/** Makes a successful call's failure readable: the module's own output. */
export function expectSuccess(result: CallResult): void {
  expect(result.error, result.output).toBeUndefined();
  expect(result.exitCode, result.output).toBe(0);
}

/**
 * What the engine returns for files and listings of a host directory (the contextual source):
 * `source.file(path).contents` and `source.directory(dir).entries`, read from that directory.
 */
export function answerRepositoryFiles(engine: StandInEngine): void {
  engine.respond((evaluation) => {
    if (evaluation.leaf.field !== "contents" && evaluation.leaf.field !== "entries")
      return undefined;
    const host = evaluation.chain.findIndex(
      (step) => step.type === "Host" && step.field === "directory",
    );
    if (host < 0) return undefined;
    const parts = [String(evaluation.chain[host]!.args.path)];
    for (const step of evaluation.chain.slice(host + 1, -1)) {
      if (step.field !== "directory" && step.field !== "file") return undefined;
      parts.push(String(step.args.path));
    }
    const path = join(...parts);
    // The engine fails a lookup of a missing path ("no such file or directory").
    if (!existsSync(path))
      throw new Error(`lstat ${parts.slice(1).join("/")}: no such file or directory`);
    return evaluation.leaf.field === "entries"
      ? readdirSync(path).sort()
      : readFileSync(path, "utf8");
  });
}

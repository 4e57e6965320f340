// The module as the engine loads it: versions pinned together, a self-contained module directory
// (the engine uploads only dagger.json and dagger/), and a clean typecheck against SDK 0.21.8.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { describe, expect, it } from "vitest";

import { MODULE_DIR, REPO_ROOT } from "../standin/engine.js";

const json = (path: string) => JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;

describe("module layout and versions", () => {
  it("dagger.json names the module qgo, the TypeScript SDK, source dagger/ and engine v0.21.8", () => {
    expect(json(join(REPO_ROOT, "dagger.json"))).toEqual({
      name: "qgo",
      engineVersion: "v0.21.8",
      sdk: { source: "typescript" },
      source: "dagger",
    });
  });

  it("the SDK is pinned to exactly 0.21.8 as a devDependency and installed at that version", () => {
    const pkg = json(join(MODULE_DIR, "package.json")) as {
      type: string;
      dependencies?: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    expect(pkg.type).toBe("module");
    expect(pkg.devDependencies["@dagger.io/dagger"]).toBe("0.21.8");
    expect(pkg.dependencies?.["@dagger.io/dagger"]).toBeUndefined();
    const lock = json(join(MODULE_DIR, "package-lock.json")) as {
      packages: Record<string, { version: string }>;
    };
    expect(lock.packages["node_modules/@dagger.io/dagger"]?.version).toBe("0.21.8");
    expect(json(join(MODULE_DIR, "node_modules/@dagger.io/dagger/package.json")).version).toBe(
      "0.21.8",
    );
  });

  it("tsconfig.json is self-contained (no extends outside dagger/) and enables decorators", () => {
    const tsconfig = json(join(MODULE_DIR, "tsconfig.json")) as {
      extends?: string;
      compilerOptions: Record<string, unknown>;
    };
    expect(tsconfig.extends).toBeUndefined();
    expect(tsconfig.compilerOptions.experimentalDecorators).toBe(true);
  });
});

describe("typecheck", () => {
  it("tsc --noEmit passes on the module, its tests and configs against @dagger.io/dagger 0.21.8", () => {
    const tsc = spawnSync(
      process.execPath,
      [join(MODULE_DIR, "node_modules/typescript/bin/tsc"), "--noEmit", "-p", "tsconfig.json"],
      {
        cwd: MODULE_DIR,
        encoding: "utf8",
      },
    );
    expect(tsc.stdout + tsc.stderr).toBe("");
    expect(tsc.status).toBe(0);
  });
});

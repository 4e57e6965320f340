// The executor's path rules, as Dagger v0.21.8 applies them (moby/patternmatcher through
// util/layercopy and the host filesync): pure, no Docker.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";

import { copyFiltered, treeDigest } from "./directories.js";
import { PatternMatcher } from "./patterns.js";

describe("PatternMatcher (moby/patternmatcher)", () => {
  it("`**/node_modules` matches a top-level node_modules, nested ones and everything below them", () => {
    const m = new PatternMatcher(["**/node_modules"]);
    expect(m.matchesOrParentMatches("node_modules")).toBe(true);
    expect(m.matchesOrParentMatches("backend/node_modules/x/index.js")).toBe(true);
    expect(m.matchesOrParentMatches("backend/src/node_modules.ts")).toBe(false);
  });

  it("patterns are anchored at the root: `.git` is only the top-level one", () => {
    const m = new PatternMatcher([".git"]);
    expect(m.matchesOrParentMatches(".git/HEAD")).toBe(true);
    expect(m.matchesOrParentMatches("vendor/.git")).toBe(false);
  });

  it("`*` and `?` stay within one segment; the last matching pattern wins, so `!` re-includes", () => {
    expect(new PatternMatcher(["*.tar"]).matchesOrParentMatches("images/backend.tar")).toBe(false);
    expect(new PatternMatcher(["**/*.tar"]).matchesOrParentMatches("images/backend.tar")).toBe(
      true,
    );
    const m = new PatternMatcher(["logs", "!logs/keep.txt"]);
    expect(m.matchesOrParentMatches("logs/app.log")).toBe(true);
    expect(m.matchesOrParentMatches("logs/keep.txt")).toBe(false);
  });
});

describe("copyFiltered (withDirectory's include/exclude)", () => {
  const root = mkdtempSync(join(tmpdir(), "qgo-patterns-"));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const source = join(root, "src");
  mkdirSync(join(source, "dagger", "src"), { recursive: true });
  mkdirSync(join(source, "backend", "node_modules", "x"), { recursive: true });
  for (const file of [
    "package.json",
    "dagger/package.json",
    "dagger/src/index.ts",
    "backend/node_modules/x/a.js",
    "backend/b.ts",
  ]) {
    writeFileSync(join(source, file), file);
  }

  it("keeps included paths relative to the copied directory, creating only needed parents", async () => {
    const target = join(root, "include");
    await copyFiltered(source, target, { include: ["dagger/package.json"] });
    expect(readdirSync(target)).toEqual(["dagger"]);
    expect(readdirSync(join(target, "dagger"))).toEqual(["package.json"]);
  });

  it("exclude wins over include and excludes whole directories", async () => {
    const target = join(root, "exclude");
    await copyFiltered(source, target, { include: ["backend"], exclude: ["**/node_modules"] });
    expect(readdirSync(join(target, "backend"))).toEqual(["b.ts"]);
  });

  it("the content digest ignores where a tree is, not what is in it", async () => {
    const a = join(root, "a");
    const b = join(root, "b");
    await copyFiltered(source, a);
    await copyFiltered(source, b);
    expect(await treeDigest(a)).toBe(await treeDigest(b));
    writeFileSync(join(b, "backend", "b.ts"), "changed");
    expect(await treeDigest(a)).not.toBe(await treeDigest(b));
  });
});

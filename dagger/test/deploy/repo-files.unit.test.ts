// Which environments the repository has, and the files an operation reads from it.
import { describe, expect, it } from "vitest";
import { loadRepoFiles } from "../../src/deploy/repo-files.js";
import { repoRoot } from "./unit-support.js";

describe("repository files", () => {
  it("loads the compose files named by the environment from deploy/", async () => {
    const { env, releaseFiles } = await loadRepoFiles(repoRoot, "production", { host: "h" });
    expect(releaseFiles.map((f) => f.name)).toEqual(env.composeFiles);
    for (const file of releaseFiles) expect(file.content, file.name).toContain("services:");
  });
});

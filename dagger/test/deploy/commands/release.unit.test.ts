// Uploading a release's files, run for real in a scratch dir.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("release", () => {
  it("upload writes files byte for byte, whatever characters they hold", () => {
    const env = envIn(join(scratch(), "upload"));
    const content = "x: \"$HOME `id` $(whoami)\"\n'quotes' \\ back\\slash\n€ and trailing";
    const result = bash(
      commands.uploadRelease(
        env,
        "r20260101_120000_abcdef",
        [{ name: "compose.yaml", content }],
        "A=1\n",
      ).script,
    );
    expect(result.status, result.stderr).toBe(0);
    const dir = join(env.appDir, ".qgo-deploy/releases/r20260101_120000_abcdef");
    expect(readFileSync(join(dir, "compose.yaml"), "utf8")).toBe(content);
    expect(readFileSync(join(dir, "release.env"), "utf8")).toBe("A=1\n");
  });
});

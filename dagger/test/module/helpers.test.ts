// Unit tests of the module's plain helpers (no engine involved): publish's input checks and
// digest references, and the summaries/failures test and lint return.
import { describe, expect, it } from "vitest";

import { digestReference, imageAddress, publishTarget } from "../../src/lib/image-refs.js";
import { failure, summarize } from "../../src/lib/output.js";

describe("publish targets", () => {
  it("normalises registry and repository and keeps the commit tag first", () => {
    expect(publishTarget("https://GHCR.io/", "Acme/QGO-Cargo", "abc123", ["develop"])).toEqual({
      registry: "ghcr.io",
      repository: "acme/qgo-cargo",
      tags: ["abc123", "develop"],
    });
  });

  it("accepts a registry with a port", () => {
    const target = publishTarget("127.0.0.1:5000", "qgo/app", "v1", []);
    expect(imageAddress(target, "backend", "v1")).toBe("127.0.0.1:5000/qgo/app/backend:v1");
  });

  it.each([
    ["ghcr.io/acme", "acme/app", "t", "--registry"],
    ["ghcr.io", "acme//app", "t", "--repository"],
    ["ghcr.io", "acme/app", "-bad", "is not a valid image tag"],
    ["ghcr.io", "acme/app", "a".repeat(129), "is not a valid image tag"],
  ])("refuses %s %s %s with a message naming the problem", (registry, repository, tag, message) => {
    expect(() => publishTarget(registry, repository, tag, [])).toThrow(message);
  });

  it("refuses a tag given twice", () => {
    expect(() => publishTarget("ghcr.io", "acme/app", "main", ["main"])).toThrow("duplicate");
  });

  it("turns name:tag@digest into name@digest and refuses an answer without a digest", () => {
    const target = publishTarget("ghcr.io", "acme/app", "abc", []);
    const digest = `sha256:${"a".repeat(64)}`;
    expect(digestReference(`ghcr.io/acme/app/backend:abc@${digest}`, target, "backend")).toBe(
      `ghcr.io/acme/app/backend@${digest}`,
    );
    expect(() => digestReference("ghcr.io/acme/app/backend:abc", target, "backend")).toThrow(
      "no sha256 digest",
    );
  });
});

describe("test and lint output", () => {
  it("summarises vitest's output by its summary lines, without colour codes", () => {
    const stdout =
      "\u001b[32m✓\u001b[39m a.test.ts\n\u001b[2m Test Files \u001b[22m 1 passed (1)\n      Tests  3 passed (3)\n";
    expect(summarize("frontend tests", stdout)).toBe(
      "frontend tests: ok\n  Test Files  1 passed (1)\n  Tests  3 passed (3)",
    );
  });

  it("falls back to the last lines for tools without a summary", () => {
    expect(summarize("lint", "\n> eslint .\n\n")).toBe("lint: ok\n  > eslint .");
  });

  it("fails with the command, the exit code and the tail of both streams", () => {
    const error = failure("backend tests", ["npm", "test"], 1, "FAIL x.test.ts\n", "boom\n");
    expect(error.message).toBe(
      "backend tests failed: `npm test` exited with code 1.\n--- stdout (last 80 lines) ---\nFAIL x.test.ts\n--- stderr (last 80 lines) ---\nboom",
    );
  });
});

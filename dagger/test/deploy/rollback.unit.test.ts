// Rollback's choice of the release to go back to, from the history.
import { describe, expect, it } from "vitest";
import { previousServing } from "../../src/deploy/rollback.js";

describe("history", () => {
  it("finds the release that served before the current one", () => {
    const lines = [
      { result: "success", serving: "r20260101_000000_aaaaaa" },
      { result: "success", serving: "r20260102_000000_bbbbbb" },
      { result: "rolled-back", serving: "r20260102_000000_bbbbbb" },
      { result: "success", serving: "r20260103_000000_cccccc" },
    ].map((e) => JSON.stringify(e));
    expect(previousServing(lines.join("\n"), "r20260103_000000_cccccc")).toBe(
      "r20260102_000000_bbbbbb",
    );
    expect(previousServing(lines.slice(0, 1).join("\n"), "r20260101_000000_aaaaaa")).toBeNull();
    expect(previousServing("garbage\n" + lines[0], "none")).toBe("r20260101_000000_aaaaaa");
  });
});

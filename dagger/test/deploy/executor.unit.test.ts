// The executor's transport: any login shell hands the script to bash untouched.
import { spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { remoteInvocation } from "../../src/deploy/executor.js";

describe("executor", () => {
  it("transports scripts base64-encoded so any login shell passes them to bash intact", () => {
    const text = "set -euo pipefail\necho \"it's $((1+2)) in 'NEW START'\"\n";
    const out = spawnSync("sh", ["-c", remoteInvocation(text)], { encoding: "utf8" });
    expect(out.stdout).toBe("it's 3 in 'NEW START'\n");
  });
});

// The executor's transport: any login shell hands the script to bash untouched, marked with
// the operation it belongs to, with a prelude (under the lock: its check and step note) first.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quote } from "zx";
import { remoteInvocation } from "../../src/deploy/executor.js";

describe("executor", () => {
  it("transports scripts base64-encoded so any login shell passes them to bash intact", () => {
    const text = "set -euo pipefail\necho \"it's $((1+2)) in 'NEW START'\"\n";
    const out = spawnSync("sh", ["-c", remoteInvocation(text)], { encoding: "utf8" });
    expect(out.stdout).toBe("it's 3 in 'NEW START'\n");
  });

  it("marks the remote processes with the environment, the operation and the step", () => {
    const journal = join(mkdtempSync(join(tmpdir(), "qgo-journal-")), "it's the operation");
    const prelude = `printf 'step=migrate\\n' >> ${quote(journal)}`;
    const text = "set -euo pipefail\nsh -c 'echo \"$QGO_ENV $QGO_OPERATION $QGO_STEP $0\"'\n";
    const invocation = remoteInvocation(
      text,
      "migrate",
      { env: "staging", operation: "0a1b2c" },
      prelude,
    );
    // dash, as a deploy user's login shell may be.
    const out = spawnSync("dash", ["-c", invocation], { encoding: "utf8" });
    expect(out.stdout).toBe("staging 0a1b2c migrate sh\n");
    expect(readFileSync(journal, "utf8")).toBe("step=migrate\n");
    expect(() =>
      remoteInvocation(text, "migrate; rm -rf /", { env: "staging", operation: "x" }),
    ).toThrow(/process mark "migrate; rm -rf \/" is not a process mark/);
  });
});

// The executor's transport: any login shell hands the script to bash untouched, marked with
// the operation it belongs to, with a prelude (under the lock: its check and step note) first.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
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

  it("runs the script without the server account's ~/.bashrc, which Debian's bash reads under sshd", () => {
    // Debian builds bash with SSH_SOURCE_BASHRC: a bash started by sshd (SSH_CLIENT set, SHLVL
    // below 2) reads ~/.bashrc even when not interactive. What it prints would mix into the
    // step's key=value output, and a slow one (pyenv, nvm) costs every round trip.
    const home = mkdtempSync(join(tmpdir(), "qgo-home-"));
    writeFileSync(join(home, ".bashrc"), "echo 'from .bashrc'\n");
    const out = spawnSync("sh", ["-c", remoteInvocation("echo step output\n")], {
      encoding: "utf8",
      env: { PATH: process.env.PATH, HOME: home, SSH_CLIENT: "127.0.0.1 50000 22", SHLVL: "0" },
    });
    expect(out.stdout).toBe("step output\n");
  });
});

// The edge's health probe, run for real (bash) against a docker stand-in that answers
// `docker inspect` exactly as Docker 20.10 does (the template's NUL-separated fields, then a
// newline) and records the arguments of `docker exec`: the check must run as the image has it.
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { quote } from "zx";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, useScratch } from "../unit-support.js";

const scratch = useScratch();

function probeWith(test: string[], execStatus = 0) {
  const dir = join(scratch(), `probe-${test[0]}-${execStatus}`);
  const bin = join(dir, "bin");
  mkdirSync(bin, { recursive: true });
  writeFileSync(join(dir, "inspect.out"), `${test.map((t) => `${t}\0`).join("")}\n`);
  writeFileSync(
    join(bin, "docker"),
    [
      "#!/bin/bash",
      `case "$1" in`,
      `  inspect) cat ${quote(join(dir, "inspect.out"))} ;;`,
      `  exec) shift; printf '%s\\0' "$@" > ${quote(join(dir, "exec.args"))}; exit ${execStatus} ;;`,
      "esac",
    ].join("\n"),
  );
  chmodSync(join(bin, "docker"), 0o755);
  const result = bash(
    [
      "set -euo pipefail",
      `export PATH=${quote(bin)}:"$PATH"`,
      ...commands.HEALTH_PROBE,
      'if probe c1; then echo passed; else echo "failed $?"; fi',
    ].join("\n"),
  );
  const args = readFileSync(join(dir, "exec.args"), "utf8").split("\0").slice(0, -1);
  return { out: result.stdout.trim(), args };
}

describe("the health probe runs a container's own check at once", () => {
  it("CMD: the command and its arguments exactly, nothing added", () => {
    const got = probeWith(["CMD", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/"]);
    expect(got.args).toEqual(["c1", "curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1/"]);
    expect(got.out).toBe("passed");
  });

  it("CMD-SHELL: the shell line as one argument of sh -c", () => {
    const line = `mysqladmin ping -h 127.0.0.1 -u"$U" --silent || exit 1`;
    const got = probeWith(["CMD-SHELL", line]);
    expect(got.args).toEqual(["c1", "sh", "-c", line]);
  });

  it("a check that fails fails the probe", () => {
    expect(probeWith(["CMD", "false"], 1).out).toBe("failed 1");
  });
});

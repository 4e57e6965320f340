// What dagger/dagger-for-github@v8.4.1 does with a step's inputs before the Dagger CLI sees them,
// reproduced with real bash, jq and sed so that quoting, expansion and word splitting are bash's
// own. The action (action.yml at v8.4.1, steps "assemble" and "exec"):
//   1. pastes toJSON(input) into a single-quoted `echo '…'`, decodes it with `jq -rj .` and turns
//      every backslash-newline and newline into a space (`sed -z 's/\\\n/ /g; s/\n/ /g'`);
//   2. writes the result to $GITHUB_OUTPUT as `args=…` and reads it back as a step output;
//   3. pastes that text unquoted into the bash line `DAGGER_CLOUD_TOKEN=<cloud-token> dagger
//      <dagger-flags> $VERB <args>`, and once more inside double quotes in its summary function,
//      so bash re-parses quotes, `$NAME`, `$(…)` and globs in it.
// The runner substitutes `${{ }}` into those scripts as text, which is why a value inside `args`
// is code. The lines below are this project's model of those steps, not the action's file.
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface ActionInputs {
  args: string;
  "dagger-flags"?: string;
  verb?: string;
  "cloud-token"?: string;
  workdir?: string;
}

export interface ActionRun {
  /** argv the `dagger` binary received (without argv[0]). */
  argv: string[];
  /** DAGGER_CLOUD_TOKEN as the dagger process saw it. */
  cloudToken: string;
  /** The exec step's exit code (non-zero: bash itself failed on the pasted text). */
  exitCode: number | null;
  stderr: string;
}

/** GitHub's toJSON of a string: a JSON string literal (quotes, backslashes, control characters escaped). */
const toJSON = (value: string) => JSON.stringify(value);

/** Reads `name=value` lines of a $GITHUB_OUTPUT file, as the runner does for one-line values. */
function readOutputs(file: string): Record<string, string> {
  const outputs: Record<string, string> = {};
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) outputs[line.slice(0, at)] = line.slice(at + 1);
  }
  return outputs;
}

function bash(script: string, env: Record<string, string>, dir: string) {
  const file = join(dir, `step-${Math.random().toString(16).slice(2)}.sh`);
  writeFileSync(file, script);
  // GitHub runs `shell: bash` steps as `bash --noprofile --norc -eo pipefail {0}`.
  return spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", file], {
    env,
    cwd: dir,
    encoding: "utf8",
    timeout: 30_000,
  });
}

/**
 * Runs a dagger-for-github step's inputs through the action's transformation, with `dagger`
 * replaced by a recorder; `env` is the step's environment as the runner builds it.
 */
export function runDaggerAction(inputs: ActionInputs, env: Record<string, string>): ActionRun {
  const dir = mkdtempSync(join(tmpdir(), "qgo-seam-"));
  try {
    const bin = join(dir, "bin");
    const argvFile = join(dir, "argv");
    mkdirSync(bin);
    writeFileSync(
      join(bin, "dagger"),
      `#!/bin/sh\nprintf '%s\\0' "$@" > '${argvFile}'\nprintf '%s' "\${DAGGER_CLOUD_TOKEN-}" > '${argvFile}.token'\n`,
    );
    chmodSync(join(bin, "dagger"), 0o755);
    const outputFile = join(dir, "github_output");
    writeFileSync(outputFile, "");
    const base = {
      ...env,
      PATH: `${bin}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      GITHUB_OUTPUT: outputFile,
    };

    const collapse = (input: string | undefined) =>
      `$(echo '${toJSON(input ?? "")}' | jq -rj . | sed -z 's/\\\\\\n/ /g; s/\\n/ /g')`;
    const assemble = [
      `verb=${inputs.verb ?? "call"}`,
      `dagger_flags=${collapse(inputs["dagger-flags"] ?? "--progress plain")}`,
      `args=${collapse(inputs.args)}`,
      `echo "verb=$verb" >> "$GITHUB_OUTPUT"`,
      `echo "dagger-flags=$dagger_flags" >> "$GITHUB_OUTPUT"`,
      `echo "args=$args" >> "$GITHUB_OUTPUT"`,
    ].join("\n");
    const assembled = bash(assemble, base, dir);
    if (assembled.status !== 0) {
      return {
        argv: [],
        cloudToken: "",
        exitCode: assembled.status,
        stderr: `assemble: ${assembled.stderr}`,
      };
    }
    const outputs = readOutputs(outputFile);
    const exec = [
      `cd ${inputs.workdir ?? "."} && { \\`,
      `DAGGER_CLOUD_TOKEN=${inputs["cloud-token"] ?? ""} \\`,
      `dagger \\`,
      `${outputs["dagger-flags"] ?? ""} \\`,
      `\${VERB} \\`,
      `\${INPUT_MODULE:+-m $INPUT_MODULE} \\`,
      `${outputs.args ?? ""}; }`,
      `summary_content(){`,
      `  cmd="dagger $VERB ${outputs.args ?? ""}"`,
      `  echo "$cmd"`,
      `}`,
    ].join("\n");
    const ran = bash(exec, { ...base, VERB: outputs.verb ?? "", INPUT_MODULE: "" }, dir);
    let argv: string[] = [];
    let cloudToken = "";
    try {
      argv = readFileSync(argvFile, "utf8").split("\0").slice(0, -1);
      cloudToken = readFileSync(`${argvFile}.token`, "utf8");
    } catch {
      // dagger never started: the step failed in bash (the exit code and stderr say why).
    }
    return { argv, cloudToken, exitCode: ran.status, stderr: ran.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

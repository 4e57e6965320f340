// What an interrupted operation left running on the server. A deploy client that dies (CI run
// cancelled, laptop closed, SIGKILL) cannot stop what it started there: its step's processes
// go on without it (they carry QGO_ENV / QGO_OPERATION / QGO_STEP in their environment, see
// remoteInvocation), and so does a one-off container such as a migration. The next operation
// waits for them before it touches the database, and `status` lists them.
import { q, script, MINUTE, type RemoteCommand } from "./shared.js";
import { checkEnvironmentFields, markValue } from "./values.js";
import { removeCopiesLines } from "./copy.js";
import { LATEST_STEP_FUNCTION } from "./lock.js";
import type { EnvironmentSettings } from "../environments.js";

/** How long the next operation waits for an interrupted one's leftovers to end. */
export const LEFTOVER_WAIT_SECONDS = 10 * 60;

/** Exit code when something still runs after the wait. */
export const LEFTOVERS_RUNNING_EXIT = 4;

/**
 * Shell function `leftovers` printing one line per process of another operation on this
 * environment (not `ownOperation`'s) and per one-off container of its compose project.
 */
function listLeftovers(env: EnvironmentSettings, ownOperation: string): string[] {
  checkEnvironmentFields(env);
  markValue(ownOperation);
  return [
    `leftovers() {`,
    `  local d e`,
    `  for d in /proc/[0-9]*; do`,
    // (stderr first: a process that ended or is not ours cannot be read, and that is fine)
    `    e=$(tr '\\0' '\\n' 2>/dev/null < "$d/environ") || continue`,
    `    grep -qxF ${q(`QGO_ENV=${env.name}`)} <<<"$e" || continue`,
    `    if grep -qxF ${q(`QGO_OPERATION=${ownOperation}`)} <<<"$e"; then continue; fi`,
    `    printf 'process %s of step %s: %s\\n' "\${d#/proc/}" "$(sed -n 's/^QGO_STEP=//p' <<<"$e")" "$(tr '\\0' ' ' 2>/dev/null < "$d/cmdline" | cut -c1-100)"`,
    `  done`,
    `  docker ps --no-trunc --format 'container {{.ID}} {{.Names}}: {{.Command}}' --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter label=com.docker.compose.oneoff=True | cut -c1-160`,
    `}`,
  ];
}

/**
 * Script lines that wait (up to LEFTOVER_WAIT_SECONDS, then exit LEFTOVERS_RUNNING_EXIT) until
 * nothing of another operation on this environment runs; `say` prints what it waits for.
 */
export function waitForLeftoversLines(
  env: EnvironmentSettings,
  ownOperation: string,
  { say }: { say: boolean },
): string[] {
  return [
    ...listLeftovers(env, ownOperation),
    `deadline=$((SECONDS + ${LEFTOVER_WAIT_SECONDS}))`,
    ...(say ? [`said=""`] : []),
    `while found=$(leftovers) && [ -n "$found" ]; do`,
    `  if [ "$SECONDS" -ge "$deadline" ]; then`,
    `    printf 'still running after ${LEFTOVER_WAIT_SECONDS} s, left by an interrupted operation:\\n%s\\nWait for it, or stop it (kill PID, docker stop ID) if it hangs, then run again.\\n' "$found" >&2`,
    `    exit ${LEFTOVERS_RUNNING_EXIT}`,
    `  fi`,
    ...(say
      ? [
          `  if [ "$found" != "$said" ]; then printf 'waiting for what an interrupted operation left running:\\n%s\\n' "$found"; said=$found; fi`,
        ]
      : []),
    `  sleep 1`,
    `done`,
  ];
}

/**
 * Waits (up to LEFTOVER_WAIT_SECONDS) until nothing an earlier operation started on this
 * environment still runs; then nothing else writes to the database or the app dir, and the
 * database copies it left (they only served it) are removed. Stopping a
 * migration half-way would be worse than letting it end, so this waits and never kills.
 */
export function awaitLeftovers(env: EnvironmentSettings, ownOperation: string): RemoteCommand {
  return {
    step: "leftovers",
    description: `wait until nothing an interrupted operation started on ${env.name} still runs`,
    timeoutMs: LEFTOVER_WAIT_SECONDS * 1000 + MINUTE,
    script: script([
      ...waitForLeftoversLines(env, ownOperation, { say: true }),
      // A throwaway database copy (restore proof, rehearsal) only served the run that died.
      ...removeCopiesLines(env),
      `echo "leftovers=none"`,
    ]),
  };
}

/**
 * Status lines: what runs for this environment outside the operation `ownOperation` (the status
 * query itself), the live operation's step, or the one that was interrupted.
 */
export function leftoverStatusLines(
  env: EnvironmentSettings,
  ownOperation: string,
  paths: { operation: string; interrupted: string; lock: string },
): string[] {
  const field = (file: string, key: string) => `$(sed -n 's/^${key}=//p' ${q(file)} | tail -n 1)`;
  const lastStep = (file: string) =>
    `$(latestStep ${q(file)} | sed -n 's/^step=\\([^ ]*\\) at=\\(.*\\)/\\1 (since \\2)/p')`;
  return [
    ...LATEST_STEP_FUNCTION,
    ...listLeftovers(env, ownOperation),
    `found=$(leftovers)`,
    `if [ -n "$found" ]; then echo "running:"; while IFS= read -r line; do echo "  $line"; done <<<"$found"; fi`,
    `if [ -f ${q(paths.operation)} ]; then`,
    `  step=${lastStep(paths.operation)}`,
    `  if [ -d ${q(paths.lock)} ]; then state=operation; else state=interrupted; fi`,
    `  echo "$state: ${field(paths.operation, "operation")} by ${field(paths.operation, "holder")}, in step \${step:-lock}"`,
    `elif [ -f ${q(paths.interrupted)} ]; then`,
    `  step=${lastStep(paths.interrupted)}`,
    `  echo "last interrupted: ${field(paths.interrupted, "operation")} by ${field(paths.interrupted, "holder")}, in step \${step:-lock}"`,
    `fi`,
  ];
}

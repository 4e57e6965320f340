// The deploy lock is a lease: a directory published atomically (rename) with who holds it, a
// random token, and the holder's SSH connection on the server (the pid and start time of its
// sshd process). The lease lives exactly as long as that connection: sshd ends it when the
// client dies or its network is gone (ClientAliveInterval), so the server itself can tell a
// running operation from a dead one, with no renewal traffic.
//
// Every command an operation runs under the lock starts with `underLock`: it checks that the
// lock still holds this operation's token and stops (LOCK_LOST_EXIT) otherwise, so a lock
// removed by `unlock --force` stops the running operation before its next step, in the same
// round trip. All changes of the lock (take, release, remove) happen under flock(1), so a
// release cannot remove a lock someone else took in between.
import { q, script, SECOND, serverPaths, LOCK_HELD_EXIT, type RemoteCommand } from "./shared.js";
import { lineField, logField, markValue, tokenValue } from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

/** Exit code of a command under the lock when the lock is no longer this operation's. */
export const LOCK_LOST_EXIT = 76;
/** Exit code of `unlock` without --force when the holder's connection is still alive. */
export const LOCK_LIVE_EXIT = 77;

export interface LockInfo {
  holder: string;
  commit: string;
  runUrl: string;
  /** Random token: only the holder's commands run under the lock and release it. */
  token: string;
  operation: string;
  /** The backup the operation takes before it changes anything (named in the lock's info). */
  backup?: string;
}

/**
 * Shell functions shared by the lock's scripts: `lock_ops` (serialise lock changes with flock),
 * `own_connection` (this command's sshd connection process: "pid starttime", or "unknown") and
 * `holder_state` (alive, gone or unknown for a recorded connection).
 */
function leaseFunctions(env: EnvironmentSettings): string[] {
  const p = serverPaths(env);
  return [
    ...LATEST_STEP_FUNCTION,
    `lock_ops() {`,
    `  mkdir -p ${q(p.state)}`,
    `  exec 9>>${q(`${p.state}/lock.ops`)}`,
    `  flock -w 30 9 || { echo "another lock change did not finish within 30 s" >&2; exit 1; }`,
    `}`,
    // /proc/PID/stat: the command name is in parentheses and may hold spaces; the fields after
    // it are state (1), ppid (2) ... starttime (20).
    `stat_field() { local s; s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1; s=\${s##*) }; cut -d' ' -f"$2" <<<"$s"; }`,
    `own_connection() {`,
    `  local pid=$$ comm`,
    `  while [ "$pid" -gt 1 ]; do`,
    `    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || break`,
    `    case $comm in sshd|sshd-session) echo "$pid $(stat_field "$pid" 20)"; return 0;; esac`,
    `    pid=$(stat_field "$pid" 2) || break`,
    `  done`,
    `  echo unknown`,
    `}`,
    `holder_state() {`,
    `  local conn pid start`,
    `  conn=$(cat ${q(`${p.lock}/connection`)} 2>/dev/null || echo unknown)`,
    `  [ "$conn" != unknown ] || { echo unknown; return 0; }`,
    `  pid=\${conn%% *}; start=\${conn#* }`,
    `  if [ "$(stat_field "$pid" 20 || true)" = "$start" ]; then echo alive; else echo gone; fi`,
    `}`,
  ];
}

export function acquireLock(env: EnvironmentSettings, info: LockInfo): RemoteCommand {
  const p = serverPaths(env);
  tokenValue(info.token);
  const fields = [
    `holder=${lineField(info.holder)}`,
    `operation=${lineField(info.operation)}`,
    `commit=${lineField(info.commit)}`,
    `run_url=${lineField(info.runUrl)}`,
    ...(info.backup ? [`backup=${lineField(info.backup)}`] : []),
  ];
  return {
    step: "lock",
    description: `take the deploy lock of ${env.name} (a lease held by this SSH connection)`,
    timeoutMs: 60 * SECOND,
    script: script([
      ...leaseFunctions(env),
      `lock_ops`,
      `if [ -e ${q(p.lock)} ]; then`,
      `  echo "LOCK HELD"`,
      `  cat ${q(p.lockInfo)} 2>/dev/null || echo "holder=unknown (lock directory without info)"`,
      `  echo "holder_connection=$(holder_state)"`,
      `  exit ${LOCK_HELD_EXIT}`,
      `fi`,
      // Built aside and published by one rename: nobody ever sees a lock without its info.
      `rm -rf ${q(p.state)}/.lock-new.*`,
      `new=$(mktemp -d ${q(`${p.state}/.lock-new.XXXXXX`)})`,
      `printf '%s\\n' ${fields.map(q).join(" ")} "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$new/info"`,
      `printf '%s\\n' ${q(info.token)} > "$new/token"`,
      `own_connection > "$new/connection"`,
      `mv -T "$new" ${q(p.lock)}`,
      // An operation file left behind belongs to one that never ended: say so, keep it aside.
      `if [ -f ${q(p.operation)} ]; then`,
      `  { grep -v '^step=' ${q(p.operation)} || true; latestStep ${q(p.operation)}; } | sed 's/^/interrupted_/'`,
      `  mv ${q(p.operation)} ${q(p.interrupted)}`,
      `fi`,
      `cp ${q(p.lockInfo)} ${q(p.operation)}`,
      `echo "lock taken (lease: $(cat ${q(`${p.lock}/connection`)}))"`,
    ]),
  };
}

/**
 * Shell function `latestStep FILE`: the operation journal's latest step line, `step=<names>
 * at=<time>`. Latest by `seq`, the order in which the client sent the commands, not by the
 * order of the lines: a step run beside later ones (its own channel) may note itself after a
 * later step has. Journals without seq (older operations) keep their last line.
 */
export const LATEST_STEP_FUNCTION = [
  `latestStep() {`,
  `  awk '$1 ~ /^step=/ { n = 0; at = ""; for (i = 2; i <= NF; i++) { if ($i ~ /^seq=/) n = substr($i, 5) + 0; else if ($i ~ /^at=/) at = $i } if (!seen || n >= best) { best = n; line = $1 " " at; seen = 1 } } END { if (seen) print line }' "$1"`,
  `}`,
];

/**
 * The lines every command under the lock starts with: stop unless the lock is still this
 * operation's, then note the step in the operation file (what `status` and the next operation
 * read when this one never ends).
 */
export function underLock(env: EnvironmentSettings, token: string, step: string, seq = 0): string {
  const p = serverPaths(env);
  tokenValue(token);
  if (!Number.isSafeInteger(seq) || seq < 0) throw new Error(`journal seq ${seq}: not a count`);
  // One step, or the steps run together, separated by commas.
  for (const part of step.split(",")) markValue(part, "step");
  return [
    `if [ "$(cat ${q(p.lockToken)} 2>/dev/null)" != ${q(token)} ]; then`,
    `  echo ${q(`the deploy lock of ${env.name} is no longer this operation's (removed by unlock --force, or taken by another): stopped before step ${step}`)} >&2`,
    `  exit ${LOCK_LOST_EXIT}`,
    `fi`,
    `printf 'step=%s seq=%s at=%s\\n' ${q(step)} ${seq} "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >> ${q(p.operation)} 2>/dev/null || true`,
  ].join("\n");
}

export function releaseLock(env: EnvironmentSettings, token: string): RemoteCommand {
  const p = serverPaths(env);
  tokenValue(token);
  return {
    step: "unlock",
    description: `release the deploy lock of ${env.name}`,
    timeoutMs: 60 * SECOND,
    script: script([
      ...leaseFunctions(env),
      `lock_ops`,
      `if [ "$(cat ${q(p.lockToken)} 2>/dev/null)" = ${q(token)} ]; then`,
      // The operation ended (well or not, but knowingly): nothing is left interrupted.
      `  rm -f ${q(p.operation)}`,
      `  gone=$(mktemp -u ${q(`${p.state}/.lock-released.XXXXXX`)})`,
      `  mv -T ${q(p.lock)} "$gone"`,
      `  rm -rf "$gone"`,
      `  echo "lock released"`,
      `else`,
      `  echo "lock not ours any more: left as is" >&2`,
      `fi`,
    ]),
  };
}

/**
 * Removes the lock. A lock whose holder's connection is alive goes only with `force`: removing
 * it lets a second operation run beside the first, which then stops before its next step. A
 * lock whose connection is gone, or was never found (the lock step ran after its client had
 * died, or the server has no /proc), is stale and goes without it.
 */
export function forceUnlock(
  env: EnvironmentSettings,
  holder: string,
  force = false,
): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "unlock",
    description: `remove the deploy lock of ${env.name}${force ? " even when its holder is alive (--force)" : " when its holder's connection is gone"}`,
    timeoutMs: 60 * SECOND,
    script: script([
      ...leaseFunctions(env),
      `lock_ops`,
      `if [ ! -e ${q(p.lock)} ]; then echo "no lock held"; exit 0; fi`,
      // A client killed a moment ago: its sshd notices within a second or two.
      `for _ in 1 2 3 4 5; do [ "$(holder_state)" = alive ] || break; sleep 1; done`,
      `state=$(holder_state)`,
      `cat ${q(p.lockInfo)} 2>/dev/null || true`,
      `[ ! -f ${q(p.operation)} ] || echo "its last step: $(latestStep ${q(p.operation)} | sed -n 's/^step=//p')"`,
      `echo "holder_connection=$state"`,
      ...(force
        ? []
        : [
            `if [ "$state" = alive ]; then`,
            `  echo "LOCK LIVE: the holder's SSH connection is alive; the lock was left as is" >&2`,
            `  exit ${LOCK_LIVE_EXIT}`,
            `fi`,
          ]),
      `gone=$(mktemp -u ${q(`${p.state}/.lock-released.XXXXXX`)})`,
      `mv -T ${q(p.lock)} "$gone"`,
      `rm -rf "$gone"`,
      `printf '%s env=%s action=unlock result=success holder=%s forced=%s holder_connection=%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${q(env.name)} ${q(logField(holder))} ${force ? "yes" : "no"} "$state" >> ${q(p.audit)}`,
      `echo "lock removed"`,
    ]),
  };
}

/** A `key=value` field of the lock's info or the audit log, as it was given (%-decoded). */
export function fieldText(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  try {
    return decodeURIComponent(value);
  } catch {
    return value;
  }
}

// The deploy lock: an atomic mkdir in the state dir, with who holds it and a token so that
// only the holder releases it; a person can remove it (unlock) after checking status.
import { q, script, SECOND, serverPaths, LOCK_HELD_EXIT, type RemoteCommand } from "./shared.js";
import type { EnvironmentSettings } from "../environments.js";

// --- lock -------------------------------------------------------------------------------

export interface LockInfo {
  holder: string;
  commit: string;
  runUrl: string;
  /** Random token so that only the holder's release step removes the lock. */
  token: string;
  operation: string;
  /** The backup the operation takes before it changes anything (named in the lock's info). */
  backup?: string;
}

export function acquireLock(env: EnvironmentSettings, info: LockInfo): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "lock",
    description: `take the deploy lock of ${env.name} (atomic mkdir)`,
    timeoutMs: 30 * SECOND,
    script: script([
      `mkdir -p ${q(p.state)}`,
      `if mkdir ${q(p.lock)} 2>/dev/null; then`,
      `  printf '%s\\n' ${q(`holder=${info.holder}`)} ${q(`operation=${info.operation}`)} ${q(`commit=${info.commit}`)} ${q(`run_url=${info.runUrl}`)}${info.backup ? ` ${q(`backup=${info.backup}`)}` : ""} "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)" > ${q(p.lockInfo)}`,
      `  printf '%s\\n' ${q(info.token)} > ${q(p.lockToken)}`,
      // An operation file left behind belongs to one that never ended: say so, keep it aside.
      `  if [ -f ${q(p.operation)} ]; then`,
      `    sed 's/^/interrupted_/' ${q(p.operation)}`,
      `    mv ${q(p.operation)} ${q(p.interrupted)}`,
      `  fi`,
      `  cp ${q(p.lockInfo)} ${q(p.operation)}`,
      `  echo "lock taken"`,
      `else`,
      `  echo "LOCK HELD"`,
      `  cat ${q(p.lockInfo)} 2>/dev/null || echo "holder=unknown (lock directory without info)"`,
      `  exit ${LOCK_HELD_EXIT}`,
      `fi`,
    ]),
  };
}

export function releaseLock(env: EnvironmentSettings, token: string): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "unlock",
    description: `release the deploy lock of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([
      `if [ "$(cat ${q(p.lockToken)} 2>/dev/null)" = ${q(token)} ]; then`,
      // The operation ended (well or not, but knowingly): nothing is left interrupted.
      `  rm -f ${q(p.operation)}`,
      `  rm -rf ${q(p.lock)}`,
      `  echo "lock released"`,
      `else`,
      `  echo "lock not ours any more: left as is" >&2`,
      `fi`,
    ]),
  };
}

export function forceUnlock(env: EnvironmentSettings, holder: string): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "unlock",
    description: `remove the deploy lock of ${env.name}, whoever holds it`,
    timeoutMs: 30 * SECOND,
    script: script([
      `if [ -d ${q(p.lock)} ]; then`,
      `  echo "removing lock:"`,
      `  cat ${q(p.lockInfo)} 2>/dev/null || true`,
      `  [ ! -f ${q(p.operation)} ] || echo "its last step: $(sed -n 's/^step=//p' ${q(p.operation)} | tail -n 1)"`,
      `  rm -rf ${q(p.lock)}`,
      `  printf '%s env=%s action=unlock result=success holder=%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${q(env.name)} ${q(holder)} >> ${q(p.audit)}`,
      `  echo "lock removed"`,
      `else`,
      `  echo "no lock held"`,
      `fi`,
    ]),
  };
}

// The server's records: each release's release.json, the history (one JSON line per
// operation) and the audit log; the reads the operations and the job summary need.
import { q, script, SECOND, serverPaths, type RemoteCommand } from "./shared.js";
import type { EnvironmentSettings } from "../environments.js";

// --- records -----------------------------------------------------------------------------

export interface ReleaseRecord {
  id: string;
  env: string;
  backendImage: string;
  frontendImage: string;
  version: string;
  commit: string;
  createdAt: string;
}

export interface HistoryEntry {
  time: string;
  env: string;
  action: "deploy" | "rollback";
  result: "success" | "rolled-back" | "failed";
  /** Release the operation tried to put live. */
  release: string | null;
  /** Release serving after the operation (null: none). */
  serving: string | null;
  backendImage?: string;
  frontendImage?: string;
  version?: string;
  commit?: string;
  backup?: string;
  holder: string;
  runUrl?: string;
  failedStep?: string;
  message?: string;
  /** The steps this operation ran, in order (the job summary shows them). */
  steps?: HistoryStep[];
}

export interface HistoryStep {
  step: string;
  seconds: number;
  ok: boolean;
}

export function recordRelease(
  env: EnvironmentSettings,
  entry: HistoryEntry,
  release?: ReleaseRecord,
): RemoteCommand {
  const p = serverPaths(env);
  const auditLine = [
    entry.time,
    `env=${entry.env}`,
    `action=${entry.action}`,
    `result=${entry.result}`,
    `release=${entry.release ?? "-"}`,
    `serving=${entry.serving ?? "-"}`,
    `version=${entry.version ?? "-"}`,
    `backup=${entry.backup ?? "-"}`,
    `holder=${entry.holder}`,
    `run=${entry.runUrl || "-"}`,
    ...(entry.failedStep ? [`failed_step=${entry.failedStep}`] : []),
  ].join(" ");
  const keep = env.releaseRetention;
  return {
    step: "record",
    description: "record the release history and the audit log",
    timeoutMs: 30 * SECOND,
    script: script([
      `mkdir -p ${q(p.releases)}`,
      ...(release
        ? [
            `[ ! -d ${q(p.release(release.id))} ] || printf '%s\\n' ${q(JSON.stringify(release))} > ${q(`${p.release(release.id)}/release.json`)}`,
          ]
        : []),
      `printf '%s\\n' ${q(JSON.stringify(entry))} >> ${q(p.history)}`,
      `printf '%s\\n' ${q(auditLine)} >> ${q(p.audit)}`,
      // Old release directories go, except the live one and the one saved for a rollback.
      `cd ${q(p.releases)}`,
      `current=$(cat ../current 2>/dev/null || true); previous=$(cat ../rollback/current 2>/dev/null || true)`,
      `find . -mindepth 1 -maxdepth 1 -type d -printf '%f\\n' | { grep -E '^r[0-9]{8}_[0-9]{6}_[0-9a-f]{6}$' || true; } | sort -r | tail -n +${keep + 1} | while IFS= read -r old; do`,
      `  [ "$old" = "$current" ] || [ "$old" = "$previous" ] || rm -rf -- "$old"`,
      `done`,
      `echo recorded`,
    ]),
  };
}

export function readHistory(env: EnvironmentSettings): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "history",
    description: `read the release history of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([`cat ${q(p.history)} 2>/dev/null || true`]),
  };
}

export function readCurrentRelease(env: EnvironmentSettings): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "current",
    description: `read the release ${env.name} runs now`,
    timeoutMs: 30 * SECOND,
    script: script([
      `id=$(cat ${q(p.current)} 2>/dev/null || true)`,
      `[ -n "$id" ] || { echo "none"; exit 0; }`,
      `cat ${q(`${p.releases}/`)}"$id/release.json"`,
    ]),
  };
}

export function readReleaseRecord(env: EnvironmentSettings, id: string): RemoteCommand {
  return {
    step: "release",
    description: `read release ${id}`,
    timeoutMs: 30 * SECOND,
    script: script([`cat ${q(`${serverPaths(env).release(id)}/release.json`)}`]),
  };
}

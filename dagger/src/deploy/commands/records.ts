// The server's records: each release's release.json, the history (one JSON line per
// operation) and the audit log; the reads the operations and the job summary need.
import { q, script, SECOND, serverPaths, type RemoteCommand } from "./shared.js";
import {
  digestRefValue,
  labelValue,
  logField,
  releaseIdValue,
  shown,
  UnsafeValueError,
} from "./values.js";
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
  /** The backup's restore proof, with its figures ("restore proven: tables=4 rows=1200"). */
  proof?: string;
  /** What the migration rehearsal on the restored copy found (passed, skipped and why, off). */
  rehearsal?: string;
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

/**
 * A release record as read back from a server (release.json, a backup's copy): every field is
 * checked and only the known ones are kept, so a record cannot carry a line into release.env
 * (version "1\nBACKEND_IMAGE=…") or an image that is not pinned by digest.
 */
export function releaseRecordFrom(value: unknown): ReleaseRecord {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new UnsafeValueError("not a JSON object");
  const r = value as Record<string, unknown>;
  const text = (key: string, required = true): string => {
    const field = r[key];
    if (field === undefined && !required) return "";
    if (typeof field !== "string")
      throw new UnsafeValueError(`${key} ${shown(field)} is not a string`);
    return field;
  };
  const createdAt = text("createdAt", false);
  if (createdAt !== "" && !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(createdAt))
    throw new UnsafeValueError(`createdAt ${shown(createdAt)} is not a UTC time`);
  const env = text("env", false);
  if (env !== "" && !/^[a-z][a-z0-9-]{0,30}$/.test(env))
    throw new UnsafeValueError(`env ${shown(env)} is not an environment name`);
  return {
    id: releaseIdValue(text("id"), "id"),
    env,
    backendImage: digestRefValue(text("backendImage"), "backendImage"),
    frontendImage: digestRefValue(text("frontendImage"), "frontendImage"),
    version: labelValue(text("version", false), "version"),
    commit: labelValue(text("commit", false), "commit"),
    createdAt,
  };
}

/** The checks a history entry passes before it is written (the audit line is %-encoded). */
function checkedEntry(entry: HistoryEntry): HistoryEntry {
  if (entry.release !== null) releaseIdValue(entry.release, "history release");
  if (entry.serving !== null) releaseIdValue(entry.serving, "history serving");
  if (entry.backendImage !== undefined) digestRefValue(entry.backendImage, "history backendImage");
  if (entry.frontendImage !== undefined)
    digestRefValue(entry.frontendImage, "history frontendImage");
  if (entry.version !== undefined) labelValue(entry.version, "history version");
  if (entry.commit !== undefined) labelValue(entry.commit, "history commit");
  return entry;
}

export function recordRelease(
  env: EnvironmentSettings,
  entry: HistoryEntry,
  release?: ReleaseRecord,
): RemoteCommand {
  const p = serverPaths(env);
  checkedEntry(entry);
  if (release) releaseRecordFrom(release);
  const auditLine = [
    logField(entry.time),
    `env=${logField(entry.env)}`,
    `action=${logField(entry.action)}`,
    `result=${logField(entry.result)}`,
    `release=${logField(entry.release)}`,
    `serving=${logField(entry.serving)}`,
    `version=${logField(entry.version)}`,
    `backup=${logField(entry.backup)}`,
    `holder=${logField(entry.holder)}`,
    `run=${logField(entry.runUrl)}`,
    ...(entry.failedStep ? [`failed_step=${logField(entry.failedStep)}`] : []),
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
  releaseIdValue(id);
  return {
    step: "release",
    description: `read release ${id}`,
    timeoutMs: 30 * SECOND,
    script: script([`cat ${q(`${serverPaths(env).release(id)}/release.json`)}`]),
  };
}

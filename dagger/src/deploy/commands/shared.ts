// What every builder of remote commands shares (Kamal's split: pure builders return commands,
// one executor runs them; nothing here touches the network or the file system, so every script
// is unit-tested and printed verbatim by --dry-run): the command type, names, quoting, the
// compose command line and the server's layout as named paths.
//
// Every value that reaches a script goes through zx's `quote`; every script starts with
// `set -euo pipefail`. Server layout per environment:
//   <appDir>/compose*.yaml, .env (server secrets), release.env  - the live release
//   <appDir>/.qgo-deploy/lock/            - the deploy lock (atomic mkdir)
//   <appDir>/.qgo-deploy/operation        - the operation under the lock, and each step it began;
//                                           left behind only when it never ended (interrupted)
//   <appDir>/.qgo-deploy/operation.interrupted - the last such one, kept for `status`
//   <appDir>/.qgo-deploy/releases/<id>/   - files + release.json of each release
//   <appDir>/.qgo-deploy/rollback/        - live files saved just before a switch
//   <appDir>/.qgo-deploy/current          - id of the release that serves now
//   <appDir>/.qgo-deploy/history.jsonl    - one JSON line per deploy/rollback
//   <appDir>/.qgo-deploy/backup-before-migration - the backup retention keeps for the schema
//                                           before the last migrations
//   <appDir>/.qgo-deploy/audit.log        - one text line per operation
//   <backupsDir>/backup_<env>_<YYYYMMDD_HHMMSS>.tar.gz[.proof] - a backup [and its restore proof]
//   <backupsDir>/backup_<env>_<YYYYMMDD_HHMMSS>.tar.gz.unproven - one that failed its proof
import { quote } from "zx";
import type { EnvironmentSettings } from "../environments.js";
import {
  backupNameValue,
  checkEnvironmentFields,
  releaseIdValue,
  serviceNameValue,
} from "./values.js";

export * from "./values.js";

export interface RemoteCommand {
  /** Short step name used in logs and step records. */
  step: string;
  /** What the step does, one line, for logs and the dry-run plan. */
  description: string;
  /** A bash script; always starts with `set -euo pipefail`. */
  script: string;
  /** Bytes written to the script's stdin (secrets go here, never into the script). */
  stdin?: string;
  /** Hard time limit for the command. */
  timeoutMs: number;
  /**
   * The steps the operation journal notes for it: set when steps run together, so that a run
   * interrupted during them is known to have been in all of them (default: `step`).
   */
  journalSteps?: string[];
}

export interface ReleaseFile {
  name: string;
  content: string;
}

export interface ReleaseImages {
  backendImage: string;
  frontendImage: string;
}

export const STATE_DIR_NAME = ".qgo-deploy";
/** Exit code the lock script uses when another deploy holds the lock. */
export const LOCK_HELD_EXIT = 75;

export const SECOND = 1000;
export const MINUTE = 60 * SECOND;

/** Every value that reaches a script goes through zx's quote. */
export const q = (value: string | number): string => quote(String(value));

export function script(lines: string[]): string {
  return ["set -euo pipefail", ...lines].join("\n") + "\n";
}

/**
 * Commands that always run one after the other, sent as one (one round trip): each script in
 * its own subshell, so its traps, `cd` and variables stay its own; the first that fails ends
 * it with its exit code. None may read stdin.
 */
export function inOneTrip(step: string, parts: RemoteCommand[]): RemoteCommand {
  if (parts.some((part) => part.stdin !== undefined))
    throw new Error(`step ${step}: a command that reads stdin cannot share a round trip`);
  return {
    step,
    description: parts.map((part) => part.description).join("; then "),
    timeoutMs: parts.reduce((sum, part) => sum + part.timeoutMs, 0),
    // ShellCheck takes a function that only a trap calls inside a subshell for unreachable.
    script: script(parts.map((part) => `# shellcheck disable=SC2317\n(\n${part.script})`)),
  };
}

export function stateDir(env: EnvironmentSettings): string {
  checkEnvironmentFields(env);
  return `${env.appDir.replace(/\/+$/, "")}/${STATE_DIR_NAME}`;
}

/** The named places of an environment on its server (the layout above). */
export function serverPaths(env: EnvironmentSettings) {
  const state = stateDir(env);
  return {
    state,
    lock: `${state}/lock`,
    lockInfo: `${state}/lock/info`,
    lockToken: `${state}/lock/token`,
    /** The operation under the lock and the steps it began (removed when it ends). */
    operation: `${state}/operation`,
    /** The last operation that never ended, as the next one found it. */
    interrupted: `${state}/operation.interrupted`,
    /** Id of the release that serves now. */
    current: `${state}/current`,
    /** Live files saved just before a switch. */
    rollback: `${state}/rollback`,
    releases: `${state}/releases`,
    release: (id: string) => `${state}/releases/${releaseIdValue(id)}`,
    history: `${state}/history.jsonl`,
    /** The backup taken just before the last deploy that ran pending migrations (kept). */
    backupBeforeMigration: `${state}/backup-before-migration`,
    audit: `${state}/audit.log`,
  };
}

export function utcStamp(date: Date): string {
  const iso = date.toISOString(); // 2026-11-27T07:32:31.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

export function backupName(envName: string, date: Date): string {
  return backupNameValue(`backup_${envName}_${utcStamp(date)}.tar.gz`);
}

export function releaseId(date: Date, randomHex: string): string {
  return releaseIdValue(`r${utcStamp(date)}_${randomHex.slice(0, 6)}`);
}

/** Registry host of an image reference, as `docker login` wants it. */
export function registryOf(ref: string): string {
  const first = ref.split("/")[0] ?? "";
  const hasRegistry =
    ref.includes("/") && (first.includes(".") || first.includes(":") || first === "localhost");
  return hasRegistry ? first : "docker.io";
}

/** `docker compose` with the environment's project, env files and compose files. */
export function composeCommand(env: EnvironmentSettings, filesDir = "."): string {
  checkEnvironmentFields(env);
  const dir = filesDir === "." ? "" : `${filesDir}/`;
  return [
    "docker compose",
    `--project-directory ${q(env.appDir)}`,
    `-p ${q(env.project)}`,
    `--env-file ${q(`${env.appDir}/.env`)}`,
    `--env-file ${q(`${env.appDir}/${dir}release.env`)}`,
    ...env.composeFiles.map((file) => `-f ${q(`${env.appDir}/${dir}${file}`)}`),
  ].join(" ");
}

/** Shell snippet setting $1 to the id of the running container of a compose service. */
export function serviceContainer(
  env: EnvironmentSettings,
  variable: string,
  service: string,
): string {
  checkEnvironmentFields(env);
  serviceNameValue(variable, "shell variable");
  serviceNameValue(service, "compose service");
  return (
    `${variable}=$(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} ` +
    `--filter ${q(`label=com.docker.compose.service=${service}`)} | head -n 1)`
  );
}

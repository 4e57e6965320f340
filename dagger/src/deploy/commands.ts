// Pure builders of the remote commands of a deploy (Kamal's split: builders return
// commands, one executor runs them). Nothing here touches the network or the file system,
// so every script can be unit-tested and printed verbatim by --dry-run.
//
// Every value that reaches a script goes through zx's `quote`; every script starts with
// `set -euo pipefail`. Server layout per environment:
//   <appDir>/compose*.yaml, .env (server secrets), release.env  - the live release
//   <appDir>/.qgo-deploy/lock/            - the deploy lock (atomic mkdir)
//   <appDir>/.qgo-deploy/releases/<id>/   - files + release.json of each release
//   <appDir>/.qgo-deploy/rollback/        - live files saved just before a switch
//   <appDir>/.qgo-deploy/current          - id of the release that serves now
//   <appDir>/.qgo-deploy/history.jsonl    - one JSON line per deploy/rollback
//   <appDir>/.qgo-deploy/audit.log        - one text line per operation
//   <backupsDir>/backup_<env>_<YYYYMMDD_HHMMSS>.tar.gz
import { quote } from "zx";
import type { EnvironmentSettings } from "./environments.js";

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

const SECOND = 1000;
const MINUTE = 60 * SECOND;

const q = (value: string | number): string => quote(String(value));

function script(lines: string[]): string {
  return ["set -euo pipefail", ...lines].join("\n") + "\n";
}

export function stateDir(env: EnvironmentSettings): string {
  return `${env.appDir.replace(/\/+$/, "")}/${STATE_DIR_NAME}`;
}

export const BACKUP_NAME = /^backup_([a-z][a-z0-9-]{0,30})_(\d{8})_(\d{6})\.tar\.gz$/;
export const RELEASE_ID = /^r\d{8}_\d{6}_[0-9a-f]{6}$/;
const DIGEST_REF = /^[A-Za-z0-9][A-Za-z0-9._\-/:]*@sha256:[a-f0-9]{64}$/;
const LABEL_VALUE = /^[A-Za-z0-9._+-]*$/;

export function utcStamp(date: Date): string {
  const iso = date.toISOString(); // 2026-11-27T07:32:31.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}_${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}`;
}

export function backupName(envName: string, date: Date): string {
  return `backup_${envName}_${utcStamp(date)}.tar.gz`;
}

export function releaseId(date: Date, randomHex: string): string {
  return `r${utcStamp(date)}_${randomHex.slice(0, 6)}`;
}

export function isDigestRef(ref: string): boolean {
  return DIGEST_REF.test(ref) && !ref.includes("..");
}

export function isLabelValue(value: string): boolean {
  return LABEL_VALUE.test(value);
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
function serviceContainer(env: EnvironmentSettings, variable: string, service: string): string {
  return (
    `${variable}=$(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} ` +
    `--filter ${q(`label=com.docker.compose.service=${service}`)} | head -n 1)`
  );
}

// --- lock -------------------------------------------------------------------------------

export interface LockInfo {
  holder: string;
  commit: string;
  runUrl: string;
  /** Random token so that only the holder's release step removes the lock. */
  token: string;
  operation: string;
}

export function acquireLock(env: EnvironmentSettings, info: LockInfo): RemoteCommand {
  const state = stateDir(env);
  const lock = `${state}/lock`;
  return {
    step: "lock",
    description: `take the deploy lock of ${env.name} (atomic mkdir)`,
    timeoutMs: 30 * SECOND,
    script: script([
      `mkdir -p ${q(state)}`,
      `if mkdir ${q(lock)} 2>/dev/null; then`,
      `  printf '%s\\n' ${q(`holder=${info.holder}`)} ${q(`operation=${info.operation}`)} ${q(`commit=${info.commit}`)} ${q(`run_url=${info.runUrl}`)} "since=$(date -u +%Y-%m-%dT%H:%M:%SZ)" > ${q(`${lock}/info`)}`,
      `  printf '%s\\n' ${q(info.token)} > ${q(`${lock}/token`)}`,
      `  echo "lock taken"`,
      `else`,
      `  echo "LOCK HELD"`,
      `  cat ${q(`${lock}/info`)} 2>/dev/null || echo "holder=unknown (lock directory without info)"`,
      `  exit ${LOCK_HELD_EXIT}`,
      `fi`,
    ]),
  };
}

export function releaseLock(env: EnvironmentSettings, token: string): RemoteCommand {
  const lock = `${stateDir(env)}/lock`;
  return {
    step: "unlock",
    description: `release the deploy lock of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([
      `if [ "$(cat ${q(`${lock}/token`)} 2>/dev/null)" = ${q(token)} ]; then`,
      `  rm -rf ${q(lock)}`,
      `  echo "lock released"`,
      `else`,
      `  echo "lock not ours any more: left as is" >&2`,
      `fi`,
    ]),
  };
}

export function forceUnlock(env: EnvironmentSettings, holder: string): RemoteCommand {
  const lock = `${stateDir(env)}/lock`;
  const audit = `${stateDir(env)}/audit.log`;
  return {
    step: "unlock",
    description: `remove the deploy lock of ${env.name}, whoever holds it`,
    timeoutMs: 30 * SECOND,
    script: script([
      `if [ -d ${q(lock)} ]; then`,
      `  echo "removing lock:"`,
      `  cat ${q(`${lock}/info`)} 2>/dev/null || true`,
      `  rm -rf ${q(lock)}`,
      `  printf '%s env=%s action=unlock result=success holder=%s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${q(env.name)} ${q(holder)} >> ${q(audit)}`,
      `  echo "lock removed"`,
      `else`,
      `  echo "no lock held"`,
      `fi`,
    ]),
  };
}

// --- preflight ---------------------------------------------------------------------------

export function preflight(env: EnvironmentSettings): RemoteCommand {
  const state = stateDir(env);
  return {
    step: "preflight",
    description: "check Docker, Compose v2, curl, server .env, free disk and the database",
    timeoutMs: 60 * SECOND,
    script: script([
      `fail() { echo "preflight: $*" >&2; exit 1; }`,
      `command -v docker >/dev/null || fail "docker is not installed"`,
      `docker info --format '{{.ServerVersion}}' >/dev/null || fail "the Docker daemon does not answer"`,
      `echo "docker=$(docker version --format '{{.Server.Version}}')"`,
      `compose=$(docker compose version --short 2>/dev/null) || fail "Docker Compose v2 (docker compose) is not installed"`,
      `case "$compose" in v2.*|2.*|v3.*|3.*|v4.*|4.*) ;; *) fail "Docker Compose v2 needed, found $compose";; esac`,
      `echo "compose=$compose"`,
      `command -v curl >/dev/null || fail "curl is not installed (health checks use it)"`,
      `[ -d ${q(env.appDir)} ] || fail ${q(`app dir ${env.appDir} does not exist`)}`,
      `[ -f ${q(`${env.appDir}/.env`)} ] || fail ${q(`server secrets file ${env.appDir}/.env is missing`)}`,
      `mkdir -p ${q(env.backupsDir)} ${q(`${state}/releases`)}`,
      `free_mb=$(( $(df -Pk ${q(env.backupsDir)} | awk 'NR==2 {print $4}') / 1024 ))`,
      `echo "free_mb=$free_mb"`,
      `[ "$free_mb" -ge ${q(env.minFreeDiskMb)} ] || fail "only $free_mb MB free for backups, need ${env.minFreeDiskMb} MB"`,
      serviceContainer(env, "db", "db"),
      `if [ -n "$db" ]; then`,
      `  docker exec "$db" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -e "SELECT 1" "$MYSQL_DATABASE"' >/dev/null || fail "the database container runs but does not answer"`,
      `  echo "db=reachable"`,
      `else`,
      `  echo "db=absent"`,
      `fi`,
      `echo "current=$(cat ${q(`${state}/current`)} 2>/dev/null || echo none)"`,
    ]),
  };
}

// --- backup ------------------------------------------------------------------------------

/** mysqldump through the db container, with the container's own credentials. */
const DUMP_IN_CONTAINER =
  'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysqldump -uroot --single-transaction --routines ' +
  '--triggers --events --add-drop-database --databases "$MYSQL_DATABASE"';

export function createBackup(env: EnvironmentSettings, name: string): RemoteCommand {
  const state = stateDir(env);
  const archive = `${env.backupsDir}/${name}`;
  const partial = `${env.backupsDir}/.${name}.partial`;
  const configFiles = [...env.composeFiles, ".env", "release.env"];
  return {
    step: "backup",
    description: `verified backup ${name} (database dump, config, backend/uploads, backend/logs)`,
    timeoutMs: 30 * MINUTE,
    script: script([
      `umask 077`,
      `cd ${q(env.appDir)}`,
      `[ ! -e ${q(archive)} ] || { echo ${q(`backup ${name} exists already`)} >&2; exit 1; }`,
      // Leftovers of a backup interrupted earlier (connection cut) are removed first.
      `rm -rf ${q(env.backupsDir)}/.qgo-backup-${q(env.name)}.* ${q(env.backupsDir)}/.backup_${q(env.name)}_*.partial`,
      `work=$(mktemp -d ${q(`${env.backupsDir}/.qgo-backup-${env.name}.XXXXXX`)})`,
      `trap 'rm -rf "$work" ${q(partial)}' EXIT`,
      `mkdir -p "$work/config" "$work/backend"`,
      serviceContainer(env, "db", "db"),
      `if [ -n "$db" ]; then`,
      `  docker exec "$db" sh -c ${q(DUMP_IN_CONTAINER)} > "$work/db.sql"`,
      `else`,
      `  echo "no database container was running (first deploy): nothing to dump" > "$work/NO_DATABASE"`,
      `fi`,
      `for f in ${configFiles.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" "$work/config/"; done`,
      `current=$(cat ${q(`${state}/current`)} 2>/dev/null || true)`,
      `if [ -n "$current" ] && [ -f ${q(`${state}/releases/`)}"$current/release.json" ]; then cp ${q(`${state}/releases/`)}"$current/release.json" "$work/release.json"; fi`,
      `for d in backend/uploads backend/logs; do [ ! -d "$d" ] || cp -a "$d" "$work/backend/"; done`,
      `tar -C "$work" -czf ${q(partial)} .`,
      // Verification, two reads of the archive: the verbose listing reads the whole gzip
      // stream (integrity) and gives the dump's size; the dump's last line proves it complete.
      `listing=$(tar -tvzf ${q(partial)})`,
      `names=$(awk '{print $NF}' <<<"$listing")`,
      `if grep -qx './db.sql' <<<"$names"; then`,
      `  dump_bytes=$(awk '$NF == "./db.sql" {print $3}' <<<"$listing")`,
      `  [ "$dump_bytes" -gt 0 ] || { echo "backup verification failed: empty database dump" >&2; exit 1; }`,
      `  tar -xzOf ${q(partial)} ./db.sql | tail -n 1 | grep -q '^-- Dump completed' || { echo "backup verification failed: database dump is incomplete" >&2; exit 1; }`,
      `  echo "dump_bytes=$dump_bytes"`,
      `elif grep -qx './NO_DATABASE' <<<"$names"; then`,
      `  echo "dump_bytes=0 (no database yet)"`,
      `else`,
      `  echo "backup verification failed: no database dump in the archive" >&2; exit 1`,
      `fi`,
      `mv ${q(partial)} ${q(archive)}`,
      `echo "backup=${name.replace(/[^\w.-]/g, "")}"`,
      `echo "archive_bytes=$(wc -c < ${q(archive)})"`,
    ]),
  };
}

/** Keeps the newest `keep` backups of this environment; never deletes `justMade`. */
export function pruneBackups(env: EnvironmentSettings, justMade: string): RemoteCommand {
  const others = `^backup_${env.name}_[0-9]{8}_[0-9]{6}\\.tar\\.gz$`;
  return {
    step: "retention",
    description: `keep the newest ${env.backupRetention} backups of ${env.name} (other environments untouched)`,
    timeoutMs: 60 * SECOND,
    script: script([
      `cd ${q(env.backupsDir)}`,
      `names() { find . -maxdepth 1 -type f -printf '%f\\n' | { grep -E ${q(others)} || true; }; }`,
      `names | { grep -vxF ${q(justMade)} || true; } | sort -r | tail -n +${env.backupRetention} | while IFS= read -r old; do`,
      `  rm -f -- "$old"`,
      `  echo "removed $old"`,
      `done`,
      `echo "kept=$(names | wc -l)"`,
    ]),
  };
}

// --- release files -----------------------------------------------------------------------

export function releaseEnvText(
  env: EnvironmentSettings,
  images: ReleaseImages,
  labels: { version?: string; commit?: string },
): string {
  const lines = [
    `BACKEND_IMAGE=${images.backendImage}`,
    `FRONTEND_IMAGE=${images.frontendImage}`,
    `BACKEND_PORT=${env.ports.backend}`,
    `FRONTEND_PORT=${env.ports.frontend}`,
  ];
  if (env.ports.https !== undefined) lines.push(`HTTPS_PORT=${env.ports.https}`);
  if (labels.version) lines.push(`APP_VERSION=${labels.version}`);
  if (labels.commit) lines.push(`GIT_COMMIT=${labels.commit}`);
  return lines.join("\n") + "\n";
}

function writeFileLines(path: string, content: string): string {
  return `printf '%s' ${q(content)} > ${q(path)}`;
}

/** Writes the compose files and release.env of a release into its own directory. */
export function uploadRelease(
  env: EnvironmentSettings,
  id: string,
  files: ReleaseFile[],
  releaseEnv: string,
): RemoteCommand {
  const dir = `${stateDir(env)}/releases/${id}`;
  return {
    step: "upload",
    description: `upload release ${id}: ${files.map((f) => f.name).join(", ")}, release.env`,
    timeoutMs: 60 * SECOND,
    script: script([
      `rm -rf ${q(dir)}`,
      `mkdir -p ${q(dir)}`,
      ...files.map((file) => writeFileLines(`${dir}/${file.name}`, file.content)),
      writeFileLines(`${dir}/release.env`, releaseEnv),
      `ls -1 ${q(dir)}`,
    ]),
  };
}

// --- images ------------------------------------------------------------------------------

export function registryLogin(registry: string, username: string, password: string): RemoteCommand {
  return {
    step: "login",
    description: `docker login ${registry} as ${username} (password on stdin)`,
    timeoutMs: 2 * MINUTE,
    stdin: password,
    script: script([`docker login --username ${q(username)} --password-stdin ${q(registry)}`]),
  };
}

const labelOf = (image: string, label: string): string =>
  `docker image inspect --format ${q(`{{ index .Config.Labels "${label}" }}`)} ${q(image)}`;

/**
 * Pulls both images and reports the version and commit labels of the backend image;
 * when `appendLabelsTo` is given, they are appended to that release.env (unless set).
 */
export function pullImages(
  env: EnvironmentSettings,
  images: ReleaseImages,
  appendLabelsToRelease?: string,
): RemoteCommand {
  const releaseEnv = appendLabelsToRelease
    ? `${stateDir(env)}/releases/${appendLabelsToRelease}/release.env`
    : undefined;
  return {
    step: "pull",
    description: "pull the backend and frontend images",
    timeoutMs: 20 * MINUTE,
    script: script([
      `docker pull --quiet ${q(images.backendImage)}`,
      `docker pull --quiet ${q(images.frontendImage)}`,
      `clean() { case "$1" in "<no value>") echo "";; *) echo "$1";; esac; }`,
      `version=$(clean "$(${labelOf(images.backendImage, "org.opencontainers.image.version")})")`,
      `commit=$(clean "$(${labelOf(images.backendImage, "org.opencontainers.image.revision")})")`,
      `echo "version=$version"`,
      `echo "commit=$commit"`,
      ...(releaseEnv
        ? [
            `case "$version" in *[!A-Za-z0-9._+-]*) version="";; esac`,
            `case "$commit" in *[!A-Za-z0-9._+-]*) commit="";; esac`,
            `grep -q '^APP_VERSION=' ${q(releaseEnv)} || [ -z "$version" ] || echo "APP_VERSION=$version" >> ${q(releaseEnv)}`,
            `grep -q '^GIT_COMMIT=' ${q(releaseEnv)} || [ -z "$commit" ] || echo "GIT_COMMIT=$commit" >> ${q(releaseEnv)}`,
          ]
        : []),
    ]),
  };
}

// --- migrate, switch, up -----------------------------------------------------------------

/** Runs the migrate command in a one-off container of the NEW backend image, before switching. */
export function migrate(env: EnvironmentSettings, id: string): RemoteCommand {
  const staged = composeCommand(env, `${STATE_DIR_NAME}/releases/${id}`);
  return {
    step: "migrate",
    description: `${env.migrateCommand.join(" ")} with the new backend image`,
    timeoutMs: 15 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `mkdir -p backend/uploads backend/logs`,
      `${staged} up -d --wait db`,
      `${staged} run --rm --no-deps -T backend ${env.migrateCommand.map(q).join(" ")}`,
    ]),
  };
}

/**
 * Saves the live files (for a rollback), copies release `id`'s files into the app dir and
 * points `current` at it. A first deploy saves an empty set, so a rollback knows.
 */
export function switchRelease(env: EnvironmentSettings, id: string): RemoteCommand {
  const state = stateDir(env);
  const live = [...env.composeFiles, "release.env"];
  return {
    step: "switch",
    description: `make release ${id} the live one (live files saved for a rollback)`,
    timeoutMs: 30 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `rm -rf ${q(`${state}/rollback`)} && mkdir -p ${q(`${state}/rollback`)}`,
      `for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" ${q(`${state}/rollback/`)}; done`,
      `cp ${q(`${state}/current`)} ${q(`${state}/rollback/current`)} 2>/dev/null || true`,
      `for f in ${live.map(q).join(" ")}; do cp ${q(`${state}/releases/${id}/`)}"$f" "$f.next" && mv "$f.next" "$f"; done`,
      `printf '%s\\n' ${q(id)} > ${q(`${state}/current`)}`,
      `echo "live=${id}"`,
    ]),
  };
}

export function composeUp(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "up",
    description: "docker compose up -d",
    timeoutMs: 10 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `mkdir -p backend/uploads backend/logs`,
      `${composeCommand(env)} up -d --remove-orphans`,
    ]),
  };
}

// --- health ------------------------------------------------------------------------------

/**
 * Polls the backend's /health (status ok, and the expected version when known) and the
 * frontend's / with retries, a per-request timeout and exponential backoff.
 */
export function healthCheck(env: EnvironmentSettings, expectedVersion?: string): RemoteCommand {
  const h = env.health;
  const versionPattern = expectedVersion ? `"version":${JSON.stringify(expectedVersion)}` : "";
  // Worst case: every attempt times out and every wait is the longest one, for both URLs.
  const worstCaseSeconds = 2 * h.attempts * (h.timeoutSeconds + h.maxDelaySeconds) + 30;
  return {
    step: "health",
    description:
      `health checks (${h.attempts} attempts, backoff ${h.initialDelaySeconds}s..${h.maxDelaySeconds}s): ` +
      `${env.healthUrls.backend}${expectedVersion ? ` (version ${expectedVersion})` : ""}, ${env.healthUrls.frontend}`,
    timeoutMs: worstCaseSeconds * SECOND,
    script: script([
      `probe() { # url pattern`,
      `  local url=$1 pattern=$2 delay=${h.initialDelaySeconds} attempt body`,
      `  for attempt in $(seq 1 ${h.attempts}); do`,
      `    if body=$(curl -fsS --max-time ${h.timeoutSeconds} "$url" 2>&1); then`,
      `      if [ -z "$pattern" ] || tr -d '[:space:]' <<<"$body" | grep -qF -- "$pattern"; then`,
      `        echo "healthy: $url (attempt $attempt)"; return 0`,
      `      fi`,
      `      echo "attempt $attempt: $url answered but not as expected: $(head -c 300 <<<"$body")"`,
      `    else`,
      `      echo "attempt $attempt: $url: $(head -c 300 <<<"$body")"`,
      `    fi`,
      `    [ "$attempt" -lt ${h.attempts} ] || break`,
      `    sleep "$delay"`,
      `    delay=$(( delay * 2 > ${h.maxDelaySeconds} ? ${h.maxDelaySeconds} : delay * 2 ))`,
      `  done`,
      `  echo "UNHEALTHY: $url after ${h.attempts} attempts" >&2; return 1`,
      `}`,
      `probe ${q(env.healthUrls.backend)} ${q(`"status":"ok"`)}`,
      ...(versionPattern ? [`probe ${q(env.healthUrls.backend)} ${q(versionPattern)}`] : []),
      `probe ${q(env.healthUrls.frontend)} ''`,
    ]),
  };
}

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
  const state = stateDir(env);
  const audit = [
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
      `mkdir -p ${q(`${state}/releases`)}`,
      ...(release
        ? [
            `[ ! -d ${q(`${state}/releases/${release.id}`)} ] || printf '%s\\n' ${q(JSON.stringify(release))} > ${q(`${state}/releases/${release.id}/release.json`)}`,
          ]
        : []),
      `printf '%s\\n' ${q(JSON.stringify(entry))} >> ${q(`${state}/history.jsonl`)}`,
      `printf '%s\\n' ${q(audit)} >> ${q(`${state}/audit.log`)}`,
      // Old release directories go, except the live one and the one saved for a rollback.
      `cd ${q(`${state}/releases`)}`,
      `current=$(cat ../current 2>/dev/null || true); previous=$(cat ../rollback/current 2>/dev/null || true)`,
      `find . -mindepth 1 -maxdepth 1 -type d -printf '%f\\n' | { grep -E '^r[0-9]{8}_[0-9]{6}_[0-9a-f]{6}$' || true; } | sort -r | tail -n +${keep + 1} | while IFS= read -r old; do`,
      `  [ "$old" = "$current" ] || [ "$old" = "$previous" ] || rm -rf -- "$old"`,
      `done`,
      `echo recorded`,
    ]),
  };
}

// --- rollback pieces ---------------------------------------------------------------------

/** Stops the backend (and frontend) so nothing writes while the database is restored. */
export function stopApp(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "stop-app",
    description: "stop the backend and frontend containers",
    timeoutMs: 2 * MINUTE,
    script: script([
      `mapfile -t ids < <(for service in backend frontend; do docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter "label=com.docker.compose.service=$service"; done)`,
      `if [ "\${#ids[@]}" -gt 0 ]; then docker stop "\${ids[@]}" >/dev/null; echo "stopped: \${#ids[@]} container(s)"; else echo "nothing running"; fi`,
    ]),
  };
}

/** Restores the database from a backup archive: drops it and loads the dump. */
export function restoreDatabase(env: EnvironmentSettings, name: string): RemoteCommand {
  const archive = `${env.backupsDir}/${name}`;
  const recreate =
    'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -e ' +
    '"DROP DATABASE IF EXISTS \\`$MYSQL_DATABASE\\`; CREATE DATABASE \\`$MYSQL_DATABASE\\`"';
  return {
    step: "restore-db",
    description: `restore the database from ${name}`,
    timeoutMs: 30 * MINUTE,
    script: script([
      serviceContainer(env, "db", "db"),
      `[ -n "$db" ] || { echo "the database container is not running: cannot restore" >&2; exit 1; }`,
      `listing=$(tar -tzf ${q(archive)})`,
      `if grep -qx './db.sql' <<<"$listing"; then`,
      `  tar -xzOf ${q(archive)} ./db.sql | docker exec -i "$db" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot'`,
      `  echo "database restored from dump"`,
      `else`,
      // The backup was taken before the first deploy: the database was empty then.
      `  docker exec "$db" sh -c ${q(recreate)}`,
      `  echo "database emptied (the backup predates the first deploy)"`,
      `fi`,
    ]),
  };
}

/** Puts back the live files saved by the last switch (or removes them after a first deploy). */
export function restoreSavedRelease(env: EnvironmentSettings): RemoteCommand {
  const state = stateDir(env);
  const live = [...env.composeFiles, "release.env"];
  return {
    step: "restore-release",
    description: "put back the previous release's files",
    timeoutMs: 30 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `[ -d ${q(`${state}/rollback`)} ] || { echo "no saved release files to put back" >&2; exit 1; }`,
      `if [ -f ${q(`${state}/rollback/release.env`)} ]; then`,
      `  for f in ${live.map(q).join(" ")}; do if [ -f ${q(`${state}/rollback/`)}"$f" ]; then cp -p ${q(`${state}/rollback/`)}"$f" "$f.prev" && mv "$f.prev" "$f"; else rm -f "$f"; fi; done`,
      `  if [ -f ${q(`${state}/rollback/current`)} ]; then cp ${q(`${state}/rollback/current`)} ${q(`${state}/current`)}; else rm -f ${q(`${state}/current`)}; fi`,
      `  echo "previous=$(cat ${q(`${state}/current`)} 2>/dev/null || echo unmanaged)"`,
      `else`,
      `  rm -f ${q(`${state}/current`)}`,
      `  echo "previous=none"`,
      `fi`,
    ]),
  };
}

/** Restores uploads and the release files kept in a backup archive (not the server .env). */
export function restoreBackupFiles(env: EnvironmentSettings, name: string): RemoteCommand {
  const state = stateDir(env);
  const archive = `${env.backupsDir}/${name}`;
  const live = [...env.composeFiles, "release.env"];
  return {
    step: "restore-files",
    description: `restore backend/uploads and the release files from ${name}`,
    timeoutMs: 15 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `work=$(mktemp -d ${q(`${env.backupsDir}/.qgo-restore-${env.name}.XXXXXX`)})`,
      `trap 'rm -rf "$work"' EXIT`,
      `tar -C "$work" -xzf ${q(archive)}`,
      // The uploads dir itself stays (its owner is the backend's uid); its content is replaced.
      `mkdir -p backend/uploads`,
      `find backend/uploads -mindepth 1 -delete`,
      `[ ! -d "$work/backend/uploads" ] || cp -a "$work/backend/uploads/." backend/uploads/`,
      `rm -rf ${q(`${state}/rollback`)} && mkdir -p ${q(`${state}/rollback`)}`,
      `for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" ${q(`${state}/rollback/`)}; done`,
      `cp ${q(`${state}/current`)} ${q(`${state}/rollback/current`)} 2>/dev/null || true`,
      `if [ -f "$work/config/release.env" ]; then`,
      `  for f in ${live.map(q).join(" ")}; do if [ -f "$work/config/$f" ]; then cp "$work/config/$f" "$f.prev" && mv "$f.prev" "$f"; fi; done`,
      `  if [ -f "$work/release.json" ]; then`,
      `    id=$(sed -n 's/.*"id":"\\(r[0-9_a-f]*\\)".*/\\1/p' "$work/release.json")`,
      `    mkdir -p ${q(`${state}/releases/`)}"$id" && cp "$work/release.json" ${q(`${state}/releases/`)}"$id/release.json"`,
      `    for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp "$f" ${q(`${state}/releases/`)}"$id/"; done`,
      `    printf '%s\\n' "$id" > ${q(`${state}/current`)}`,
      `    echo "release=$id"`,
      `  else`,
      `    rm -f ${q(`${state}/current`)}; echo "release=unmanaged"`,
      `  fi`,
      `else`,
      `  rm -f ${q(`${state}/current`)} release.env; echo "release=none"`,
      `fi`,
    ]),
  };
}

/** Checks that a named backup exists and is intact before anything is restored from it. */
export function verifyBackup(env: EnvironmentSettings, name: string): RemoteCommand {
  const archive = `${env.backupsDir}/${name}`;
  return {
    step: "verify-backup",
    description: `check that ${name} exists and is intact`,
    timeoutMs: 10 * MINUTE,
    script: script([
      `[ -f ${q(archive)} ] || { echo ${q(`backup ${name} does not exist in ${env.backupsDir}`)} >&2; exit 3; }`,
      `gzip -t ${q(archive)}`,
      `listing=$(tar -tzf ${q(archive)})`,
      `grep -qxE './(db.sql|NO_DATABASE)' <<<"$listing" || { echo "backup has no database dump" >&2; exit 1; }`,
      `if grep -qx './release.json' <<<"$listing"; then echo "release_json=$(tar -xzOf ${q(archive)} ./release.json)"; fi`,
      `echo "verified"`,
    ]),
  };
}

// --- read-only queries -------------------------------------------------------------------

export function listBackups(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "backups",
    description: `list the backups of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([
      `[ -d ${q(env.backupsDir)} ] || exit 0`,
      `cd ${q(env.backupsDir)}`,
      `find . -maxdepth 1 -type f -printf '%f\\n' | { grep -E ${q(`^backup_${env.name}_[0-9]{8}_[0-9]{6}\\.tar\\.gz$`)} || true; } | sort -r | while IFS= read -r f; do echo "$f $(wc -c < "$f")"; done`,
    ]),
  };
}

export function readHistory(env: EnvironmentSettings): RemoteCommand {
  const state = stateDir(env);
  return {
    step: "history",
    description: `read the release history of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([`cat ${q(`${state}/history.jsonl`)} 2>/dev/null || true`]),
  };
}

export function readCurrentRelease(env: EnvironmentSettings): RemoteCommand {
  const state = stateDir(env);
  return {
    step: "current",
    description: `read the release ${env.name} runs now`,
    timeoutMs: 30 * SECOND,
    script: script([
      `id=$(cat ${q(`${state}/current`)} 2>/dev/null || true)`,
      `[ -n "$id" ] || { echo "none"; exit 0; }`,
      `cat ${q(`${state}/releases/`)}"$id/release.json"`,
    ]),
  };
}

export function readReleaseRecord(env: EnvironmentSettings, id: string): RemoteCommand {
  return {
    step: "release",
    description: `read release ${id}`,
    timeoutMs: 30 * SECOND,
    script: script([`cat ${q(`${stateDir(env)}/releases/${id}/release.json`)}`]),
  };
}

export function statusReport(env: EnvironmentSettings): RemoteCommand {
  const state = stateDir(env);
  return {
    step: "status",
    description: `what ${env.name} runs now, its health and its lock`,
    timeoutMs: 60 * SECOND,
    script: script([
      `echo "release: $(cat ${q(`${state}/current`)} 2>/dev/null || echo none)"`,
      `id=$(cat ${q(`${state}/current`)} 2>/dev/null || true)`,
      `[ -z "$id" ] || echo "release_json: $(cat ${q(`${state}/releases/`)}"$id/release.json" 2>/dev/null || echo '{}')"`,
      `echo "containers:"`,
      `mapfile -t ids < <(docker ps -aq --filter ${q(`label=com.docker.compose.project=${env.project}`)})`,
      `[ "\${#ids[@]}" -eq 0 ] || docker inspect --format '- {{index .Config.Labels "com.docker.compose.service"}} {{.Config.Image}} {{.State.Status}}{{if .State.Health}} ({{.State.Health.Status}}){{end}}' "\${ids[@]}"`,
      `for url in ${q(env.healthUrls.backend)} ${q(env.healthUrls.frontend)}; do`,
      `  if out=$(curl -fsS --max-time ${env.health.timeoutSeconds} "$url" 2>&1); then echo "health: $url ok $(head -c 200 <<<"$out" | tr -d '\\n')"; else echo "health: $url FAILING $(head -c 200 <<<"$out")"; fi`,
      `done`,
      `if [ -d ${q(`${state}/lock`)} ]; then echo "lock: held"; sed 's/^/  /' ${q(`${state}/lock/info`)} 2>/dev/null || true; else echo "lock: free"; fi`,
    ]),
  };
}

/** Services `logs` may name (the compose files' app services). */
export const LOG_SERVICES = ["backend", "frontend", "db"] as const;

/**
 * The app's recent container logs, redacted on the server before they leave it: every value of
 * the server's .env (six characters or longer) and any password in a URL become ***.
 */
export function appLogs(env: EnvironmentSettings, lines: number, service?: string): RemoteCommand {
  const redactEnvValues = [
    `FILENAME == ARGV[1] {`,
    `  line = $0; sub(/^[ \\t]*export[ \\t]+/, "", line); at = index(line, "=")`,
    `  if (at > 1) { v = substr(line, at + 1); gsub(/^["']|["']$/, "", v); if (length(v) >= 6) secret[++n] = v }`,
    `  next`,
    `}`,
    `{ for (k = 1; k <= n; k++) while ((p = index($0, secret[k])) > 0) $0 = substr($0, 1, p - 1) "***" substr($0, p + length(secret[k])); print }`,
  ].join("\n");
  return {
    step: "logs",
    description: `the last ${lines} log lines of ${service ?? "every service"} in ${env.name} (redacted)`,
    timeoutMs: 60 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `secrets=${q(`${env.appDir}/.env`)}; [ -f "$secrets" ] || secrets=/dev/null`,
      `${composeCommand(env)} logs --no-color --timestamps --tail ${q(lines)}${service ? ` ${q(service)}` : ""} 2>&1 \\`,
      `  | awk ${q(redactEnvValues)} "$secrets" - \\`,
      `  | sed -E 's#(://[^:/@[:space:]]+:)[^@[:space:]]+@#\\1***@#g'`,
    ]),
  };
}

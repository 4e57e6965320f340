// Backups: a verified archive of the database dump, config, uploads and logs; retention per
// environment; the check before a restore; the list.
import {
  q,
  script,
  SECOND,
  MINUTE,
  serverPaths,
  serviceContainer,
  type RemoteCommand,
} from "./shared.js";
import { backupNameValue } from "./values.js";
import {
  consistentDumpLines,
  MYSQL_CLIENT,
  TABLE_CHECKSUMS,
  WRITE_PAUSE_RELEASE,
} from "./database.js";
import type { EnvironmentSettings } from "../environments.js";

// --- backup ------------------------------------------------------------------------------

/**
 * Verifies a backup archive before it counts (after a backup) and before a restore. It reads
 * members by their exact names, never by parsing a listing's fields, so no upload's name
 * (spaces, newlines, "./db.sql", "-> x") can make a good archive look bad or a bad one good:
 * the listing (one escaped name per line; reading it checks the whole gzip stream and every
 * tar header) must hold ./db.sql or ./NO_DATABASE, and the dump must be non-empty and end
 * with mysqldump's completion line. When the archive has an uploads manifest (backups since
 * it existed), its uploads are extracted into `scratch`/verify and must match the manifest file
 * by file (names, sizes, sha256); the script defines uploads_manifest first. Leaves the listing
 * in $listing.
 */
function archiveChecks(archive: string, scratch: string): string[] {
  const a = q(archive);
  const fail = (why: string) => `{ echo ${q(`backup verification failed: ${why}`)} >&2; exit 1; }`;
  return [
    `listing=$(tar --quoting-style=escape -tzf ${a}) || ${fail("the archive is damaged")}`,
    `if grep -qxF ./db.sql <<<"$listing"; then`,
    `  dump_bytes=$(tar -xzOf ${a} --occurrence=1 ./db.sql | wc -c)`,
    `  [ "$dump_bytes" -gt 0 ] || ${fail("empty database dump")}`,
    `  tar -xzOf ${a} --occurrence=1 ./db.sql | tail -n 1 | grep -q '^-- Dump completed' || ${fail("database dump is incomplete")}`,
    `  echo "dump_bytes=$dump_bytes"`,
    `elif grep -qxF ./NO_DATABASE <<<"$listing"; then`,
    `  echo "dump_bytes=0 (no database yet)"`,
    `else`,
    `  ${fail("no database dump in the archive")}`,
    `fi`,
    // The uploads, file by file: what the archive holds is what was archived.
    `if grep -qxF ./uploads.manifest <<<"$listing"; then`,
    `  rm -rf ${scratch}/verify && mkdir -p ${scratch}/verify`,
    `  tar -C ${scratch}/verify -xzf ${a} --occurrence=1 ./uploads.manifest`,
    `  if grep -qxF ./backend/uploads/ <<<"$listing"; then tar -C ${scratch}/verify -xzf ${a} ./backend/uploads; fi`,
    `  mkdir -p ${scratch}/verify/backend/uploads`,
    `  cmp -s ${scratch}/verify/uploads.manifest <(uploads_manifest ${scratch}/verify/backend/uploads) || ${fail("the uploads in the archive differ from its manifest (names, sizes, sha256)")}`,
    `  echo "upload_files=$(tr -cd '\\0' < ${scratch}/verify/uploads.manifest | wc -c)"`,
    `  rm -rf ${scratch}/verify`,
    `fi`,
  ];
}

/**
 * Shell function `uploads_manifest DIR`: one record per regular file under DIR, sorted by name,
 * "sha256 size ./name" ended by NUL, so any name (newlines, quotes, invalid UTF-8) is one record.
 */
const UPLOADS_MANIFEST = [
  `uploads_manifest() {`,
  `  local f`,
  `  ( cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | while IFS= read -r -d '' f; do`,
  `    printf '%s %s %s\\0' "$(sha256sum < "$f" | cut -d' ' -f1)" "$(stat -c %s -- "$f")" "$f"`,
  `  done )`,
  `}`,
];

export function createBackup(env: EnvironmentSettings, name: string): RemoteCommand {
  const p = serverPaths(env);
  backupNameValue(name);
  const archive = `${env.backupsDir}/${name}`;
  const partial = `${env.backupsDir}/.${name}.partial`;
  const configFiles = [...env.composeFiles, ".env", "release.env"];
  return {
    step: "backup",
    description: `verified backup ${name} (database dump with the live tables' checksums in its snapshot, config, backend/uploads with its manifest, backend/logs)`,
    timeoutMs: 30 * MINUTE,
    script: script([
      `umask 077`,
      `cd ${q(env.appDir)}`,
      `[ ! -e ${q(archive)} ] || { echo ${q(`backup ${name} exists already`)} >&2; exit 1; }`,
      // Leftovers of a backup interrupted earlier (connection cut) are removed first.
      `rm -rf ${q(env.backupsDir)}/.qgo-backup-${q(env.name)}.* ${q(env.backupsDir)}/.backup_${q(env.name)}_*.partial`,
      `work=$(mktemp -d ${q(`${env.backupsDir}/.qgo-backup-${env.name}.XXXXXX`)})`,
      serviceContainer(env, "db", "db"),
      ...MYSQL_CLIENT,
      ...TABLE_CHECKSUMS,
      ...WRITE_PAUSE_RELEASE,
      // A function, so the (quoted) path is not nested inside the trap's own quotes.
      `cleanup() { unpause; rm -rf "$work" ${q(partial)}; }`,
      `trap cleanup EXIT`,
      `mkdir -p "$work/config" "$work/backend"`,
      `if [ -n "$db" ]; then`,
      ...consistentDumpLines().map((line) => `  ${line}`),
      `else`,
      `  echo "no database container was running (first deploy): nothing to dump" > "$work/NO_DATABASE"`,
      `fi`,
      `for f in ${configFiles.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" "$work/config/"; done`,
      `current=$(cat ${q(p.current)} 2>/dev/null || true)`,
      `if [ -n "$current" ] && [ -f ${q(`${p.releases}/`)}"$current/release.json" ]; then cp ${q(`${p.releases}/`)}"$current/release.json" "$work/release.json"; fi`,
      `for d in backend/uploads backend/logs; do [ ! -d "$d" ] || cp -a "$d" "$work/backend/"; done`,
      ...UPLOADS_MANIFEST,
      `[ ! -d "$work/backend/uploads" ] || uploads_manifest "$work/backend/uploads" > "$work/uploads.manifest"`,
      // The checksums (a few bytes) and the dump first, so that reading either stops early
      // (--occurrence) instead of decompressing the uploads behind them.
      `members=()`,
      `for m in checksums.tsv db.sql NO_DATABASE uploads.manifest release.json config backend; do [ ! -e "$work/$m" ] || members+=("./$m"); done`,
      `tar -C "$work" -czf ${q(partial)} "\${members[@]}"`,
      ...archiveChecks(partial, '"$work"'),
      `mv ${q(partial)} ${q(archive)}`,
      `echo ${q(`backup=${name}`)}`,
      `echo "archive_bytes=$(wc -c < ${q(archive)})"`,
    ]),
  };
}

/**
 * Keeps the newest `backupRetention` backups of this environment and never deletes
 * `justMade`, the newest proven backup (restore proof) or the one taken before the last
 * migration. A backup's proof goes with it; of the unproven archives only the newest stays.
 */
export function pruneBackups(env: EnvironmentSettings, justMade: string): RemoteCommand {
  backupNameValue(justMade);
  const others = `^backup_${env.name}_[0-9]{8}_[0-9]{6}\\.tar\\.gz$`;
  return {
    step: "retention",
    description: `keep the newest ${env.backupRetention} backups of ${env.name}, the newest proven one and the one before the last migration (other environments untouched)`,
    timeoutMs: 60 * SECOND,
    script: script([
      `cd ${q(env.backupsDir)}`,
      `names() { find . -maxdepth 1 -type f -printf '%f\\n' | { grep -E ${q(others)} || true; } | sort -r; }`,
      `mapfile -t all < <(names)`,
      `newest_proven=""`,
      `for f in "\${all[@]}"; do if [ -f "$f.proof" ]; then newest_proven=$f; break; fi; done`,
      `before_migration=$(cat ${q(serverPaths(env).backupBeforeMigration)} 2>/dev/null || true)`,
      `names | { grep -vxF ${q(justMade)} || true; } | tail -n +${env.backupRetention} | while IFS= read -r old; do`,
      `  if [ "$old" = "$newest_proven" ]; then echo "kept $old: the newest proven backup"; continue; fi`,
      `  if [ "$old" = "$before_migration" ]; then echo "kept $old: taken before the last migration"; continue; fi`,
      `  rm -f -- "$old" "$old.proof"`,
      `  echo "removed $old"`,
      `done`,
      `find . -maxdepth 1 -type f -name ${q(`backup_${env.name}_*.tar.gz.unproven`)} -printf '%f\\n' | sort -r | tail -n +2 | while IFS= read -r old; do rm -f -- "$old"; echo "removed $old"; done`,
      `echo "kept=$(names | wc -l)"`,
    ]),
  };
}

/** Checks that a named backup exists and is intact before anything is restored from it. */
export function verifyBackup(env: EnvironmentSettings, name: string): RemoteCommand {
  serverPaths(env);
  backupNameValue(name);
  const archive = `${env.backupsDir}/${name}`;
  return {
    step: "verify-backup",
    description: `check that ${name} exists and is intact`,
    timeoutMs: 10 * MINUTE,
    script: script([
      `[ -f ${q(archive)} ] || { echo ${q(`backup ${name} does not exist in ${env.backupsDir}`)} >&2; exit 3; }`,
      `scratch=$(mktemp -d ${q(`${env.backupsDir}/.qgo-verify-${env.name}.XXXXXX`)})`,
      `cleanup() { rm -rf "$scratch"; }`,
      `trap cleanup EXIT`,
      ...UPLOADS_MANIFEST,
      ...archiveChecks(archive, '"$scratch"'),
      `if grep -qxF ./release.json <<<"$listing"; then echo "release_json=$(tar -xzOf ${q(archive)} --occurrence=1 ./release.json)"; fi`,
      `echo "verified"`,
    ]),
  };
}

export function listBackups(env: EnvironmentSettings): RemoteCommand {
  serverPaths(env);
  return {
    step: "backups",
    description: `list the backups of ${env.name}`,
    timeoutMs: 30 * SECOND,
    script: script([
      `[ -d ${q(env.backupsDir)} ] || exit 0`,
      `cd ${q(env.backupsDir)}`,
      `find . -maxdepth 1 -type f -printf '%f\\n' | { grep -E ${q(`^backup_${env.name}_[0-9]{8}_[0-9]{6}\\.tar\\.gz$`)} || true; } | sort -r | while IFS= read -r f; do if [ -f "$f.proof" ]; then proof="restore proven ($(grep -E '^(tables|rows)=' "$f.proof" | paste -sd ' '))"; else proof="restore not proven"; fi; echo "$f $(wc -c < "$f") $proof"; done`,
    ]),
  };
}

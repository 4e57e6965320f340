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
  DUMP_FILES_CLEANUP,
} from "./database.js";
import { ARCHIVE_STREAM } from "./archive.js";
import type { EnvironmentSettings } from "../environments.js";

// --- backup ------------------------------------------------------------------------------

/**
 * Verifies a backup archive before it counts (after a backup) and before a restore, reading it
 * once: it is extracted whole into `scratch`/verify (reading it checks the whole gzip stream
 * and every tar header), then the tree is checked by exact member names, never by parsing a
 * listing, so no upload's name (spaces, newlines, "./db.sql", "-> x") can make a good archive
 * look bad or a bad one good. It must hold ./db.sql (non-empty, ending with mysqldump's
 * completion line) or ./NO_DATABASE. When it has an uploads manifest (backups since it
 * existed), its uploads must match it file by file (names, sizes, sha256). The script defines
 * uploads_manifest first; the extracted tree stays in `scratch`/verify for the caller.
 */
function archiveChecks(archive: string, scratch: string): string[] {
  const a = q(archive);
  const v = `${scratch}/verify`;
  const fail = (why: string) => `{ echo ${q(`backup verification failed: ${why}`)} >&2; exit 1; }`;
  return [
    `rm -rf ${v} && mkdir -p ${v}`,
    // In the dir, not with -C: GNU tar unquotes the -C of an extraction (a backslash-n in a path).
    `(cd ${v} && tar -xzf ${a}) || ${fail("the archive is damaged")}`,
    `if [ -f ${v}/db.sql ]; then`,
    `  dump_bytes=$(stat -c %s ${v}/db.sql)`,
    `  [ "$dump_bytes" -gt 0 ] || ${fail("empty database dump")}`,
    `  tail -n 1 ${v}/db.sql | grep -q '^-- Dump completed' || ${fail("database dump is incomplete")}`,
    `  echo "dump_bytes=$dump_bytes"`,
    `elif [ -f ${v}/NO_DATABASE ]; then`,
    `  echo "dump_bytes=0 (no database yet)"`,
    `else`,
    `  ${fail("no database dump in the archive")}`,
    `fi`,
    // The uploads, file by file: what the archive holds is what was archived.
    `if [ -f ${v}/uploads.manifest ]; then`,
    `  mkdir -p ${v}/backend/uploads`,
    `  cmp -s ${v}/uploads.manifest <(uploads_manifest ${v}/backend/uploads) || ${fail("the uploads in the archive differ from its manifest (names, sizes, sha256)")}`,
    `  echo "upload_files=$(tr -cd '\\0' < ${v}/uploads.manifest | wc -c)"`,
    `fi`,
  ];
}

/**
 * Shell function `uploads_manifest DIR`: one record per regular file under DIR, sorted by name,
 * "sha256 size ./name" ended by NUL, so any name (newlines, quotes, invalid UTF-8) is one
 * record. A few processes for all the files (sha256sum and stat take them in batches from
 * xargs), not several per file: 10,000 uploads take seconds, not a minute.
 */
const UPLOADS_MANIFEST = [
  `uploads_manifest() {`,
  `  local t`,
  `  t=$(mktemp -d)`,
  `  ( cd "$1"`,
  `    find . -type f -print0 | LC_ALL=C sort -z > "$t/names"`,
  `    xargs -0r sha256sum -z -- < "$t/names" | cut -z -c1-64 > "$t/sums"`,
  `    xargs -0r stat --printf '%s\\0' -- < "$t/names" > "$t/sizes" )`,
  `  paste -z -d ' ' "$t/sums" "$t/sizes" "$t/names"`,
  `  rm -rf "$t"`,
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
      ...DUMP_FILES_CLEANUP,
      // A function, so the (quoted) path is not nested inside the trap's own quotes.
      `cleanup() { dump_files_gone; rm -rf "$work" ${q(partial)}; }`,
      `trap cleanup EXIT`,
      `mkdir -p "$work/config" "$work/backend"`,
      // Where the time goes, for the log and the benchmark: ms since the start of each phase.
      `ms() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }`,
      `t_dump=$(date +%s%N)`,
      ...ARCHIVE_STREAM,
      `if [ -n "$db" ]; then`,
      ...consistentDumpLines(`stream_dump "$work"`).map((line) => `  ${line}`),
      `  grep -q '^-- Dump completed' "$work/db.tail" || { echo "backup failed: the database dump is incomplete" >&2; exit 1; }`,
      `else`,
      `  echo "no database container was running (first deploy): nothing to dump" > "$work/NO_DATABASE"`,
      `fi`,
      `t_files=$(date +%s%N) && dump_ms=$(ms "$t_dump")`,
      `for f in ${configFiles.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" "$work/config/"; done`,
      `current=$(cat ${q(p.current)} 2>/dev/null || true)`,
      `if [ -n "$current" ] && [ -f ${q(`${p.releases}/`)}"$current/release.json" ]; then cp ${q(`${p.releases}/`)}"$current/release.json" "$work/release.json"; fi`,
      // The uploads as hard links (no copy; files are written whole, never changed in place),
      // or copied when the backups live on another filesystem. The logs are appended to: copied.
      `if [ -d backend/uploads ]; then cp -al backend/uploads "$work/backend/" 2>/dev/null || { rm -rf "$work/backend/uploads"; cp -a backend/uploads "$work/backend/"; }; fi`,
      `[ ! -d backend/logs ] || cp -a backend/logs "$work/backend/"`,
      ...UPLOADS_MANIFEST,
      // Marked after the links, before the manifest: an upload changed in place from here on
      // (its mtime; a deletion does not count) could differ between the manifest and the
      // archive. Files dated later than now already (a clock ahead) are noted, not refused.
      `if [ -d "$work/backend/uploads" ]; then`,
      `  touch "$work/.uploads-read"`,
      `  find "$work/backend/uploads" -newer "$work/.uploads-read" -print0 > "$work/.uploads-newer"`,
      `  uploads_manifest "$work/backend/uploads" > "$work/uploads.manifest"`,
      `fi`,
      // The checksums (a few bytes) and the dump first, so that reading either stops early
      // (--occurrence) instead of decompressing the uploads behind them.
      `write_archive "$work" ${q(partial)}`,
      `t_verify=$(date +%s%N) && files_ms=$(ms "$t_files")`,
      // Read once, in memory: every part is the one written. The uploads tar read are the ones
      // the manifest hashed (none changed since: restores check them against it file by file).
      `verify_archive "$work" ${q(partial)}`,
      `if [ -f "$work/uploads.manifest" ]; then`,
      `  find "$work/backend/uploads" -newer "$work/.uploads-read" -print0 | cmp -s - "$work/.uploads-newer" || { echo "backup failed: an upload was changed in place while the backup read it: run again" >&2; exit 1; }`,
      `  echo "upload_files=$(tr -cd '\\0' < "$work/uploads.manifest" | wc -c)"`,
      `fi`,
      `if [ -f "$work/db.size" ]; then echo "dump_bytes=$(cat "$work/db.size")"; else echo "dump_bytes=0 (no database yet)"; fi`,
      `mv ${q(partial)} ${q(archive)}`,
      `echo "backup_phases_ms=dump:$dump_ms files:$files_ms verify:$(ms "$t_verify")"`,
      `echo ${q(`backup=${name}`)}`,
      `echo "archive_bytes=$(wc -c < ${q(archive)})"`,
    ]),
  };
}

/**
 * Keeps the newest `backupRetention` backups of this environment and never deletes
 * `justMade`, `restoring` (the backup a rollback is about to restore, however old), the newest
 * proven backup (restore proof) or the one taken before the last migration. A backup's proof
 * goes with it; of the unproven archives only the newest stays.
 */
export function pruneBackups(
  env: EnvironmentSettings,
  justMade: string,
  restoring?: string,
): RemoteCommand {
  backupNameValue(justMade);
  if (restoring) backupNameValue(restoring);
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
      ...(restoring
        ? [
            `  if [ "$old" = ${q(restoring)} ]; then echo "kept $old: the backup this rollback restores"; continue; fi`,
          ]
        : []),
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
      `if [ -f "$scratch/verify/release.json" ]; then echo "release_json=$(cat "$scratch/verify/release.json")"; fi`,
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

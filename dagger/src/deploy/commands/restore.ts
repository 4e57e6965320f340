// What a rollback runs: stop the app, restore the database or the saved release files, or
// the files kept in a backup.
import {
  q,
  script,
  SECOND,
  MINUTE,
  serverPaths,
  serviceContainer,
  type RemoteCommand,
} from "./shared.js";
import { backupNameValue, checkEnvironmentFields } from "./values.js";
import { MYSQL_CLIENT, TABLE_CHECKSUMS } from "./database.js";
import { keepEnvironmentTls } from "./certificates.js";
import type { EnvironmentSettings } from "../environments.js";

// --- rollback pieces ---------------------------------------------------------------------

/** Stops the backend (and frontend) so nothing writes while the database is restored. */
export function stopApp(env: EnvironmentSettings): RemoteCommand {
  checkEnvironmentFields(env);
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

/**
 * Restores the database from a backup archive: drops it, loads the dump, and checks every
 * table's rows and checksum against those the backup took of the live database in the dump's
 * snapshot (what the restore proof compared), so the database is what was proven.
 */
export function restoreDatabase(env: EnvironmentSettings, name: string): RemoteCommand {
  backupNameValue(name);
  const archive = `${env.backupsDir}/${name}`;
  const recreate =
    'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -e ' +
    '"DROP DATABASE IF EXISTS \\`$MYSQL_DATABASE\\`; CREATE DATABASE \\`$MYSQL_DATABASE\\`"';
  return {
    step: "restore-db",
    description: `restore the database from ${name} and check its tables' checksums against the backup's`,
    timeoutMs: 30 * MINUTE,
    script: script([
      serviceContainer(env, "db", "db"),
      `[ -n "$db" ] || { echo "the database container is not running: cannot restore" >&2; exit 1; }`,
      ...MYSQL_CLIENT,
      ...TABLE_CHECKSUMS,
      `listing=$(tar -tzf ${q(archive)})`,
      `if grep -qx './db.sql' <<<"$listing"; then`,
      `  load_dump "$db" ${q(archive)}`,
      `  echo "database restored from dump"`,
      `  if grep -qx './checksums.tsv' <<<"$listing"; then`,
      `    work=$(mktemp -d) && trap 'rm -rf "$work"' EXIT`,
      `    tar -xzOf ${q(archive)} --occurrence=1 ./checksums.tsv > "$work/backup.tsv"`,
      `    table_checksums "$db" "$(env_of "$db" MYSQL_DATABASE)" "$work/backup.tsv" > "$work/restored.tsv"`,
      `    if ! cmp -s "$work/backup.tsv" "$work/restored.tsv"; then`,
      `      echo "the restored database differs from the backup's checksums:" >&2`,
      `      checksum_differences "$work/backup.tsv" "$work/restored.tsv" >&2`,
      `      exit 1`,
      `    fi`,
      `    echo "restore_verified=ok $(checksum_figures "$work/restored.tsv")"`,
      `  else`,
      `    echo "restore_verified=no (the backup predates table checksums)"`,
      `  fi`,
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
  const p = serverPaths(env);
  const live = [...env.composeFiles, "release.env"];
  return {
    step: "restore-release",
    description: "put back the previous release's files",
    timeoutMs: 30 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `[ -d ${q(p.rollback)} ] || { echo "no saved release files to put back" >&2; exit 1; }`,
      `if [ -f ${q(`${p.rollback}/release.env`)} ]; then`,
      `  for f in ${live.map(q).join(" ")}; do if [ -f ${q(`${p.rollback}/`)}"$f" ]; then cp -p ${q(`${p.rollback}/`)}"$f" "$f.prev" && mv "$f.prev" "$f"; else rm -f "$f"; fi; done`,
      ...keepEnvironmentTls(env).map((line) => `  ${line}`),
      `  if [ -f ${q(`${p.rollback}/current`)} ]; then cp ${q(`${p.rollback}/current`)} ${q(p.current)}; else rm -f ${q(p.current)}; fi`,
      `  echo "previous=$(cat ${q(p.current)} 2>/dev/null || echo unmanaged)"`,
      `else`,
      `  rm -f ${q(p.current)}`,
      `  echo "previous=none"`,
      `fi`,
    ]),
  };
}

/** Restores uploads and the release files kept in a backup archive (not the server .env). */
export function restoreBackupFiles(env: EnvironmentSettings, name: string): RemoteCommand {
  const p = serverPaths(env);
  backupNameValue(name);
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
      // In the dir, not with -C: GNU tar unquotes the -C of an extraction (a backslash-n in a path).
      `(cd "$work" && tar -xzf ${q(archive)})`,
      // The uploads dir itself stays (its owner is the backend's uid); its content is replaced.
      `mkdir -p backend/uploads`,
      `find backend/uploads -mindepth 1 -delete`,
      `[ ! -d "$work/backend/uploads" ] || cp -a "$work/backend/uploads/." backend/uploads/`,
      `rm -rf ${q(p.rollback)} && mkdir -p ${q(p.rollback)}`,
      `for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" ${q(`${p.rollback}/`)}; done`,
      `cp ${q(p.current)} ${q(`${p.rollback}/current`)} 2>/dev/null || true`,
      `if [ -f "$work/config/release.env" ]; then`,
      `  for f in ${live.map(q).join(" ")}; do if [ -f "$work/config/$f" ]; then cp "$work/config/$f" "$f.prev" && mv "$f.prev" "$f"; fi; done`,
      `  if [ -f "$work/release.json" ]; then`,
      `    id=$(sed -n 's/.*"id":"\\(r[0-9_a-f]*\\)".*/\\1/p' "$work/release.json" | head -n 1)`,
      // The id names a directory: only a well-formed one is used (the archive is data).
      `    [[ $id =~ ^r[0-9]{8}_[0-9]{6}_[0-9a-f]{6}$ ]] || { echo "the backup's release.json has no valid release id" >&2; exit 1; }`,
      `    mkdir -p ${q(`${p.releases}/`)}"$id" && cp "$work/release.json" ${q(`${p.releases}/`)}"$id/release.json"`,
      `    for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp "$f" ${q(`${p.releases}/`)}"$id/"; done`,
      `    printf '%s\\n' "$id" > ${q(p.current)}`,
      `    echo "release=$id"`,
      `  else`,
      `    rm -f ${q(p.current)}; echo "release=unmanaged"`,
      `  fi`,
      ...keepEnvironmentTls(env).map((line) => `  ${line}`),
      `else`,
      `  rm -f ${q(p.current)} release.env; echo "release=none"`,
      `fi`,
    ]),
  };
}

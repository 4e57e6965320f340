// The proof that a backup restores, and the rehearsal of a release's migrations on what it
// restored. Both work on a throwaway copy of the database on the server (./copy.ts).
import { q, script, MINUTE, serviceContainer, type RemoteCommand } from "./shared.js";
import { COPY_LABEL, copyName, copyStartLines, removeCopiesLines } from "./copy.js";
import { MYSQL_CLIENT, TABLE_CHECKSUMS } from "./database.js";
import { backupNameValue, digestRefValue, serverPathValue } from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

/** Disk the copy needs besides the dump's size times this (its data files and logs). */
const COPY_DISK_FACTOR = 3;
const COPY_DISK_EXTRA_MB = 256;

/**
 * The proof's exit code when it could not judge the backup: the server lacks the disk or memory
 * for a copy, or the copy did not start. Exit 1 is the verdict that the backup does not restore.
 */
export const PROOF_NO_VERDICT_EXIT = 5;

/** The sidecar file that says a backup was proven (and with which figures). */
export const proofFile = (archive: string): string => `${archive}.proof`;

/**
 * Restores backup `name` into a new copy and compares its table checksums with those the
 * backup took of the live database in the dump's own snapshot. On a match the backup is proven
 * (`<archive>.proof` holds the figures); otherwise the archive is renamed `.unproven` (kept
 * for inspection, never listed or restored) and the step fails. With `keepCopyFor` the copy
 * stays up for the rehearsal when that release's backend image ships a migration the copy
 * lacks (or it is not known); otherwise it is removed whatever happens. Refuses before starting a
 * second database when the server's free disk or memory would not carry it (exit
 * PROOF_NO_VERDICT_EXIT, as when the copy does not start: nothing is said of the backup).
 */
export function proveBackup(
  env: EnvironmentSettings,
  name: string,
  operation: string,
  keepCopyFor?: Rehearsal,
): RemoteCommand {
  const copy = copyName(env, operation);
  if (keepCopyFor) {
    digestRefValue(keepCopyFor.backendImage, "backend image");
    serverPathValue(`/${keepCopyFor.migrationsDir}`, "migrationsDir");
  }
  backupNameValue(name);
  const archive = `${env.backupsDir}/${name}`;
  const fail = (why: string, code = 1) =>
    `{ echo "restore proof failed: "${why} >&2; exit ${code}; }`;
  return {
    step: "restore-proof",
    description: `restore ${name} into a throwaway database (${copy}, no network) and compare every table's rows and checksum with the live database at the dump`,
    timeoutMs: 30 * MINUTE,
    script: script([
      `archive=${q(archive)}`,
      `copy=${q(copy)}`,
      ...MYSQL_CLIENT,
      ...TABLE_CHECKSUMS,
      `work=$(mktemp -d)`,
      `cleanup() { docker rm -f "$copy" >/dev/null 2>&1 || true; docker volume rm "$copy" >/dev/null 2>&1 || true; rm -rf "$work"; }`,
      `trap cleanup EXIT`,
      // The checksums are the archive's first member: reading them stops a few bytes in.
      `if ! tar -xzOf "$archive" --occurrence=1 ./checksums.tsv > "$work/live.tsv" 2>/dev/null; then`,
      `  if tar -tzf "$archive" --occurrence=1 ./NO_DATABASE >/dev/null 2>&1; then`,
      `    echo "restore_proof=none (no database at the backup: first deploy)"`,
      `    printf 'proven_at=%s\\ntables=0\\nrows=0\\n' "$(date -u +%FT%TZ)" > ${q(proofFile(archive))}`,
      `    exit 0`,
      `  fi`,
      `  ${fail(q("the backup holds no checksums of the live database"))}`,
      `fi`,
      serviceContainer(env, "db", "db"),
      `[ -n "$db" ] || ${fail(q("the live database container is not running"), PROOF_NO_VERDICT_EXIT)}`,
      `image=$(docker inspect --format '{{.Image}}' "$db")`,
      // Room for a second database: refuse now, with the figures, rather than fill the disk.
      // The dump's size from its tar header (the archive's second member, right after the
      // checksums): the first MB holds it. tar -t would decompress the whole dump to end.
      `dump_bytes=$({ gzip -dc "$archive" 2>/dev/null | head -c 1048576 | tar -tv --occurrence=1 ./db.sql 2>/dev/null || true; } | awk '{print $3}')`,
      `[ -n "$dump_bytes" ] || dump_bytes=$(tar -tvzf "$archive" --occurrence=1 ./db.sql | awk '{print $3}')`,
      `dump_bytes=\${dump_bytes:-0}`,
      `root=$(docker info --format '{{.DockerRootDir}}')`,
      `disk_mb=$(( $(df -Pk "$root" | awk 'NR==2 {print $4}') / 1024 ))`,
      `need_disk_mb=$(( dump_bytes * ${COPY_DISK_FACTOR} / 1048576 + ${COPY_DISK_EXTRA_MB} ))`,
      `memory_mb=$(( $(awk '/^MemAvailable:/ {print $2}' /proc/meminfo) / 1024 ))`,
      `echo "copy_resources: disk_free_mb=$disk_mb need=$need_disk_mb memory_free_mb=$memory_mb need=${env.proofMemoryMb}"`,
      `[ "$disk_mb" -ge "$need_disk_mb" ] || ${fail(`"the server has $disk_mb MB free on $root, a copy of this database needs $need_disk_mb MB (${COPY_DISK_FACTOR} x the dump + ${COPY_DISK_EXTRA_MB} MB): free disk space, then run again"`, PROOF_NO_VERDICT_EXIT)}`,
      `[ "$memory_mb" -ge ${env.proofMemoryMb} ] || ${fail(`"the server has $memory_mb MB of memory available, a copy of the database needs ${env.proofMemoryMb} MB (proofMemoryMb): free memory or lower proofMemoryMb, then run again"`, PROOF_NO_VERDICT_EXIT)}`,
      ...removeCopiesLines(env),
      // The copy's users are the live ones (the app's user gets the same grants); root's
      // password is its own (the template's).
      `mapfile -d '' -t live < <(envs_of "$db" MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD)`,
      `MYSQL_DATABASE=\${live[0]-} MYSQL_USER=\${live[1]-} MYSQL_PASSWORD=\${live[2]-}`,
      `export MYSQL_DATABASE MYSQL_USER MYSQL_PASSWORD`,
      ...copyStartLines(env),
      `started=$SECONDS`,
      `start_copy "$copy" || ${fail(q("the copy's database did not start"), PROOF_NO_VERDICT_EXIT)}`,
      `echo "copy_start_s=$((SECONDS - started))"`,
      `loaded=$SECONDS`,
      `unprove() { mv "$archive" "$archive.unproven"; echo "the backup does not count: kept as $archive.unproven for inspection" >&2; }`,
      `if ! load_dump "$copy" "$archive"; then`,
      `  unprove; ${fail(q("the dump does not load into a fresh database"))}`,
      `fi`,
      `echo "copy_load_s=$((SECONDS - loaded))"`,
      // The method the backup used (its checksums file says which).
      `table_checksums "$copy" "$MYSQL_DATABASE" "$work/live.tsv" > "$work/copy.tsv"`,
      `if ! cmp -s "$work/live.tsv" "$work/copy.tsv"; then`,
      `  echo "the restored copy differs from the live database at the dump:" >&2`,
      `  checksum_differences "$work/live.tsv" "$work/copy.tsv" >&2`,
      `  unprove; ${fail(q("checksums differ"))}`,
      `fi`,
      `figures=$(checksum_figures "$work/copy.tsv")`,
      `printf 'proven_at=%s\\n%s\\n' "$(date -u +%FT%TZ)" "\${figures// /$'\\n'}" > ${q(proofFile(archive))}`,
      `echo "restore_proof=ok $figures"`,
      ...(keepCopyFor
        ? [
            ...PENDING_MIGRATIONS,
            `pending_migrations ${q(keepCopyFor.backendImage)} ${q(keepCopyFor.migrationsDir)} "$copy"`,
            `if [ -z "$shipped" ] || [ -n "$pending_names" ]; then`,
            `  trap 'rm -rf "$work"' EXIT`,
            `  echo "copy=$copy kept for the rehearsal"`,
            `fi`,
          ]
        : []),
    ]),
  };
}

/**
 * Prints, for each pending migration named after the dir, its lines that drop or rename a
 * table or column ("name:line: statement"): the old release still serves while it runs.
 */
const CONTRACT_SCAN =
  'cd "$1" && shift && for m in "$@"; do grep -inE "drop[[:space:]]+(column|table)|rename[[:space:]]+(column|table|to)|change[[:space:]]+column" "$m/migration.sql" | sed "s#^#$m:#"; done';

/**
 * Shell function `pending_migrations IMAGE DIR [CONTAINER]` (after MYSQL_CLIENT): sets $shipped,
 * the migrations IMAGE ships in DIR (empty when it has none there: unknown), and
 * $pending_names, those not finished in CONTAINER's database (Prisma's _prisma_migrations;
 * without a container, or a table, all of them).
 */
export const PENDING_MIGRATIONS = [
  `pending_migrations() {`,
  `  local applied="" name`,
  // Read from a created container (docker cp), never started: a third of a docker run.
  `  local listed=""`,
  `  listed=$(docker create --network none "$1") || { shipped=""; pending_names=""; return 0; }`,
  `  shipped=$(docker cp "$listed:$(docker image inspect --format '{{.Config.WorkingDir}}' "$1")/$2" - 2>/dev/null | tar -t 2>/dev/null | sed -n 's#^[^/]*/\\([^/]*\\)/migration.sql$#\\1#p' | LC_ALL=C sort) || shipped=""`,
  `  docker rm "$listed" >/dev/null 2>&1 || true`,
  `  if [ -n "\${3:-}" ]; then`,
  `    name=$(env_of "$3" MYSQL_DATABASE)`,
  `    applied=$(mysql_in "$3" -N -B "$name" -e "SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL" 2>/dev/null | LC_ALL=C sort) || applied=""`,
  `  fi`,
  `  pending_names=$(LC_ALL=C comm -23 <(printf '%s\\n' "$shipped") <(printf '%s\\n' "$applied") | grep . || true)`,
  `}`,
];

/** What the rehearsal needs of the release. */
export interface Rehearsal {
  backendImage: string;
  migrateCommand: string[];
  /** Where the image keeps its migrations, relative to its working directory. */
  migrationsDir: string;
}

/**
 * Runs the release's migrate command in a one-off container of the new backend image, sharing
 * only the copy's network namespace (the copy on 127.0.0.1, nothing else reachable), against
 * the copy. Skips when every migration the image ships is applied in the copy already (Prisma's
 * _prisma_migrations), and says so. The copy is removed afterwards whatever happens. The
 * migration's own output is the step's: its error is quoted by the same code as the live one.
 */
export function rehearseMigrations(
  env: EnvironmentSettings,
  operation: string,
  release: Rehearsal,
): RemoteCommand {
  const copy = copyName(env, operation);
  digestRefValue(release.backendImage, "backend image");
  serverPathValue(`/${release.migrationsDir}`, "migrationsDir");
  const label = q(`${COPY_LABEL}=${env.project}`);
  return {
    step: "rehearsal",
    description: `${release.migrateCommand.join(" ")} with the new backend image on the restored copy (${copy}), before production`,
    timeoutMs: 15 * MINUTE,
    script: script([
      `copy=${q(copy)}`,
      `image=${q(release.backendImage)}`,
      ...MYSQL_CLIENT,
      `cleanup() { docker rm -f "$copy-migrate" "$copy" >/dev/null 2>&1 || true; docker volume rm "$copy" >/dev/null 2>&1 || true; }`,
      `trap cleanup EXIT`,
      `[ "$(docker inspect --format '{{.State.Running}}' "$copy" 2>/dev/null)" = true ] || { echo "the restored copy $copy is not running: nothing to rehearse on" >&2; exit 1; }`,
      `dbname=$(env_of "$copy" MYSQL_DATABASE)`,
      // Pending: shipped by the image, not finished in the copy. Unknown counts as pending.
      ...PENDING_MIGRATIONS,
      `pending_migrations "$image" ${q(release.migrationsDir)} "$copy"`,
      `pending=$(grep -c . <<<"$pending_names" || true)`,
      // The old release serves while these run: a drop or a rename breaks it (expand/contract).
      `if [ -n "$shipped" ] && [ -n "$pending_names" ]; then`,
      `  mapfile -t names <<<"$pending_names"`,
      `  docker run --rm --network none --entrypoint sh "$image" -c ${q(CONTRACT_SCAN)} sh ${q(release.migrationsDir)} "\${names[@]}" 2>/dev/null | head -n 20 | sed 's/^/contract_warning=/' || true`,
      `fi`,
      `if [ -n "$shipped" ] && [ "$pending" -eq 0 ]; then`,
      `  echo "rehearsal=skipped: no migration pending ($(grep -c . <<<"$shipped") in the image, all applied)"`,
      `  exit 0`,
      `fi`,
      `if [ -n "$shipped" ]; then echo "pending=$pending"; else echo "pending=unknown (no ${release.migrationsDir} found in the image): rehearsing"; fi`,
      `DATABASE_URL="mysql://$(env_of "$copy" MYSQL_USER):$(env_of "$copy" MYSQL_PASSWORD)@127.0.0.1:3306/$dbname"`,
      `export DATABASE_URL`,
      `started=$SECONDS`,
      `docker run --rm --name "$copy-migrate" --label ${label} --network "container:$copy" -e DATABASE_URL -e NODE_ENV=production "$image" ${release.migrateCommand.map(q).join(" ")}`,
      `echo "rehearsal=passed in $((SECONDS - started)) s"`,
    ]),
  };
}

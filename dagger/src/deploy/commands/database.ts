// Shell pieces that speak to a MySQL/MariaDB container: a client as the container's root, the
// per-table checksums that prove a restore, and the dump whose checksums are taken in the same
// data state as its snapshot. Used by the backup, the restore proof, the rehearsal and the
// restore of a rollback, so all of them compare the same figures.
import { q } from "./shared.js";

/**
 * Shell functions: `mysql_in CONTAINER ARGS…` runs the mysql client as root inside a database
 * container, with the password from the container's own environment (never on a command line);
 * `mysql_feed` is the same reading SQL from stdin; `env_of CONTAINER VAR` reads one variable
 * of a container's environment, `envs_of CONTAINER VAR…` several (NUL-separated).
 */
export const MYSQL_CLIENT = [
  `mysql_in() { local c=$1; shift; docker exec "$c" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot "$@"' mysql "$@"; }`,
  `mysql_feed() { local c=$1; shift; docker exec -i "$c" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot "$@"' mysql "$@"; }`,
  `env_of() { docker exec "$1" printenv "$2" || true; }`,
  // Several variables in one exec, each value (trailing newlines cut, as env_of) ended by a NUL.
  `envs_of() { local c=$1; shift; docker exec "$c" sh -c 'for v do printf "%s\\0" "$(printenv "$v")"; done' sh "$@" || true; }`,
  // Loads member ./db.sql of an archive; on failure only the server's ERROR lines are shown:
  // the client's other output can quote the statement, i.e. rows of data.
  `load_dump() {`,
  `  local errors`,
  `  if errors=$(tar -xzOf "$2" --occurrence=1 ./db.sql | mysql_feed "$1" 2>&1 >/dev/null); then return 0; fi`,
  `  grep -m 3 '^ERROR' <<<"$errors" >&2 || echo "the database client failed without an ERROR line" >&2`,
  `  return 1`,
  `}`,
];

/**
 * Builds, from the schema, one query giving per base table: its name, its row count and the sum
 * of a 60-bit slice of each row's hash (`rowHash` over every column as `column(name)` writes
 * it, NULL kept apart from ''). A sum keeps duplicate rows (an XOR would cancel them) and does
 * not depend on row order, so a copy restored from the dump gives the same figures exactly when
 * it holds the same rows.
 */
function checksumQuerySql(rowHash: string, column: (name: string) => string): string {
  const name = "CONCAT('`', REPLACE(COLUMN_NAME, '`', '``'), '`')";
  return [
    "SET SESSION group_concat_max_len = 16777216;",
    "SELECT COALESCE(GROUP_CONCAT(CONCAT('SELECT ', QUOTE(t.TABLE_NAME), ', COUNT(*), ",
    `COALESCE(SUM(CAST(CONV(SUBSTRING(${rowHash}(CONCAT_WS(0x1f, ', c.cols, ')), 1, 15), 16, 10) AS UNSIGNED)), 0) `,
    "FROM `', REPLACE(t.TABLE_NAME, '`', '``'), '`') ORDER BY t.TABLE_NAME SEPARATOR ' UNION ALL '), '') ",
    `FROM information_schema.TABLES t JOIN (SELECT TABLE_NAME, GROUP_CONCAT(${column(name)} `,
    "ORDER BY ORDINAL_POSITION SEPARATOR ', ') AS cols ",
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() GROUP BY TABLE_NAME) c ",
    "ON c.TABLE_NAME = t.TABLE_NAME WHERE t.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE'",
  ].join("");
}

/**
 * The checksums of backups made now: SHA1 of each value's byte length, ':' and its bytes, in UTC
 * (TIMESTAMP columns read the same whatever the server's time zone). A checksums file of this
 * method starts with CHECKSUMS_HEADER.
 */
const CHECKSUM_QUERY_SQL = checksumQuerySql(
  "SHA1",
  (name) => `CONCAT('COALESCE(CONCAT(LENGTH(', ${name}, '), 0x3a, ', ${name}, '), 0x00)')`,
);
export const CHECKSUMS_HEADER = "# qgo table checksums 2: SHA1 of length-prefixed values, UTC";
const CHECKSUMS_SESSION = "SET SESSION time_zone = '+00:00';";

/**
 * The checksums of the backups made before (their files have no header line): MD5 over each
 * value's HEX. Kept to check those backups' restores. (HEX reads a number as an integer, so
 * 12.50 and 12.49 hash alike: 2.5x slower, and blind to decimals.)
 */
const LEGACY_CHECKSUM_QUERY_SQL = checksumQuerySql(
  "MD5",
  (name) => `CONCAT('COALESCE(HEX(', ${name}, '), 0x00)')`,
);

/**
 * Shell functions (after MYSQL_CLIENT): `checksum_query CONTAINER DB BUILDER` prints the query
 * a builder above makes for that database; `table_checksums CONTAINER DB [LIKE]` prints its
 * result, CHECKSUMS_HEADER then one "table<TAB>rows<TAB>sum" line per table, sorted by name, or,
 * when checksums file LIKE (a backup's) is of the legacy method, that method's lines;
 * `checksum_figures FILE` says how many tables and rows a checksums file covers.
 */
export const TABLE_CHECKSUMS = [
  `checksum_query_sql=${q(CHECKSUM_QUERY_SQL)}`,
  `checksums_session=${q(CHECKSUMS_SESSION)}`,
  `checksums_header=${q(CHECKSUMS_HEADER)}`,
  `checksum_query() { mysql_in "$1" -N -B --raw "$2" -e "$3"; }`,
  `table_checksums() {`,
  `  local sql builder=$checksum_query_sql session=$checksums_session header=$checksums_header`,
  `  if [ -n "\${3:-}" ] && [ "$(head -n 1 "$3")" != "$checksums_header" ]; then`,
  `    builder=${q(LEGACY_CHECKSUM_QUERY_SQL)} session="" header=""`,
  `  fi`,
  `  sql=$(checksum_query "$1" "$2" "$builder")`,
  `  [ -z "$header" ] || printf '%s\\n' "$header"`,
  `  [ -z "$sql" ] || mysql_in "$1" -N -B "$2" -e "$session $sql ORDER BY 1"`,
  `}`,
  `checksum_figures() { awk -F '\\t' '/^#/ { next } { tables += 1; rows += $2 } END { printf "tables=%d rows=%d\\n", tables, rows }' "$1"; }`,
  // What differs between two checksum files (at the dump, restored), a line per table (5).
  `checksum_differences() {`,
  `  awk -F '\\t' '/^#/ { next } FILENAME == ARGV[1] { rows[$1] = $2; sum[$1] = $3; next }`,
  `    { seen[$1] = 1`,
  `      if (!($1 in rows)) print "  " $1 ": not in the database at the dump, " $2 " rows restored"`,
  `      else if (rows[$1] != $2) print "  " $1 ": " rows[$1] " rows at the dump, " $2 " restored"`,
  `      else if (sum[$1] != $3) print "  " $1 ": same rows, different content" }`,
  `    END { for (t in rows) if (!(t in seen)) print "  " t ": " rows[t] " rows at the dump, missing after the restore" }' "$1" "$2" | LC_ALL=C sort | head -n 5`,
  `}`,
];

/**
 * `dump_files_gone` removes what an interrupted consistentDumpLines left in the database
 * container (a finished one removes its files itself): call it from the script's EXIT trap too
 * (define it before the trap).
 */
export const DUMP_FILES_CLEANUP = [
  `dump_dir=""`,
  `dump_files_gone() { [ -z "$dump_dir" ] || docker exec "$db" rm -rf "$dump_dir" >/dev/null 2>&1 || true; dump_dir=""; }`,
];

/** Marks the dump's figures and checksums among the other lines of its stderr. */
const DUMP_FILE_MARK = "qgo-dump-file ";

/** The pausing session ends by itself after this, even if its script was killed. */
const PAUSE_SESSION_SECONDS = 90;

/** How long writes may wait for the pause that lines the checksums up with the dump. */
export const WRITE_PAUSE_LIMIT_SECONDS = 10;

/**
 * The pause that lines the checksums up with the dump, run inside the database container by one
 * `docker exec` (bash; the official mysql and mariadb images have it), so that each of its
 * steps is a local client on the server's socket (milliseconds), not a `docker exec` of its own
 * (a tenth of a second and more on a busy server): writes wait while a session holds FLUSH
 * TABLES WITH READ LOCK (it gives up after WRITE_PAUSE_LIMIT_SECONDS rather than queue writes
 * behind a long query) just long enough for two snapshots to open, the checksum session's and
 * mysqldump's --single-transaction one. No commit can fall between them, so both see the same
 * rows. Arguments: a new dir for its files, the checksum query builder, the checksum session's
 * settings, the checksums file's header. stdout is mysqldump's; the write pause (ms) and the
 * checksums file follow on stderr, their lines marked DUMP_FILE_MARK.
 */
const CONSISTENT_DUMP_IN_CONTAINER = [
  `set -euo pipefail`,
  `export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"`,
  `d=$1`,
  // What an interrupted backup left here goes first (one backup at a time: the deploy lock).
  `rm -rf /tmp/qgo-dump-* && mkdir -m 700 "$d"`,
  `my() { mysql -uroot -N -B "$@"; }`,
  `sql=$(my --raw "$MYSQL_DATABASE" -e "$2")`,
  // The checksum session talks through two fifos. (A coproc's fds are closed by bash as soon
  // as it has ended, which can be before its last output was read: "Bad file descriptor".)
  `mkfifo "$d/sums.in" "$d/sums.out"`,
  `mysql -uroot -N -B --unbuffered "$MYSQL_DATABASE" < "$d/sums.in" > "$d/sums.out" &`,
  `exec {sums_in}>"$d/sums.in" {sums_out}<"$d/sums.out"`,
  `printf '%s\\n' "$3 SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ; SELECT CONNECTION_ID();" >&"$sums_in"`,
  `IFS= read -r -t 60 sums_id <&"$sums_out"`,
  `pause_id=""`,
  `unpause() { [ -z "$pause_id" ] || my -e "KILL $pause_id" >/dev/null 2>&1 || true; pause_id=""; }`,
  `trap unpause EXIT`,
  `my --unbuffered -e "SET SESSION lock_wait_timeout = ${WRITE_PAUSE_LIMIT_SECONDS}; FLUSH TABLES WITH READ LOCK; SELECT CONNECTION_ID(); SELECT SLEEP(${PAUSE_SESSION_SECONDS})" > "$d/pause.out" 2> "$d/pause.err" &`,
  `pause_pid=$!`,
  `until [ -s "$d/pause.out" ]; do`,
  `  kill -0 "$pause_pid" 2>/dev/null || { echo "could not pause writes for the consistent checksums: $(tail -n 1 "$d/pause.err")" >&2; exit 1; }`,
  `  sleep 0.005`,
  `done`,
  `pause_id=$(head -n 1 "$d/pause.out")`,
  `paused_at=$(date +%s%N)`,
  `printf '%s\\n' "START TRANSACTION WITH CONSISTENT SNAPSHOT; SELECT 1;" >&"$sums_in"`,
  `IFS= read -r -t 60 _ <&"$sums_out"`,
  // mysqldump opens its snapshot before it writes a database's first line: seeing "-- Current
  // Database:" in its output is seeing the snapshot open. (INNODB_TRX, polled before, is a
  // cache that is not refreshed while it is read more often than every 0.1 s: writes waited
  // up to 0.9 s.) Past that line its output goes through as it is. Its exit code: dump.rc.
  `{ exec {sums_in}>&- {sums_out}<&-; rc=0; mysqldump -uroot --single-transaction --routines --triggers --events --add-drop-database --databases "$MYSQL_DATABASE" || rc=$?; echo "$rc" > "$d/dump.rc"; } | {`,
  `  exec {sums_in}>&- {sums_out}<&-`,
  `  while IFS= read -r line; do printf '%s\\n' "$line"; case $line in "-- Current Database:"*) : > "$d/snapshot"; break ;; esac; done`,
  `  exec cat`,
  `} &`,
  `dump_pid=$!`,
  // Writes wait meanwhile: no longer than they may wait for the pause itself.
  `deadline=$((SECONDS + ${WRITE_PAUSE_LIMIT_SECONDS}))`,
  `until [ -e "$d/snapshot" ] || ! kill -0 "$dump_pid" 2>/dev/null; do`,
  `  [ "$SECONDS" -lt "$deadline" ] || { echo "mysqldump did not open its snapshot within ${WRITE_PAUSE_LIMIT_SECONDS} s (writes were paused meanwhile): run again" >&2; exit 1; }`,
  `  sleep 0.002`,
  `done`,
  `unpause`,
  `wait "$pause_pid" 2>/dev/null || true`,
  `echo $(( ($(date +%s%N) - paused_at) / 1000000 )) > "$d/paused_ms"`,
  `[ -z "$sql" ] || printf '%s ORDER BY 1;\\n' "$sql" >&"$sums_in"`,
  `printf 'COMMIT;\\n' >&"$sums_in"`,
  `exec {sums_in}>&-`,
  `{ printf '%s\\n' "$4"; cat <&"$sums_out"; } > "$d/checksums.tsv"`,
  `wait "$dump_pid"`,
  `rc=$(cat "$d/dump.rc" 2>/dev/null || echo 1)`,
  `[ "$rc" = 0 ] || { echo "mysqldump exited with $rc" >&2; exit 1; }`,
  // Its figures leave on stderr, each line marked (stdout is the dump): no second exec for them.
  `sed "s/^/${DUMP_FILE_MARK}/" "$d/paused_ms" "$d/checksums.tsv" >&2`,
  `rm -rf "$d"`,
].join("\n");

/**
 * Dumps the database of container $db into `sink` (shell text that reads the dump on stdin)
 * and writes, into $work/checksums.tsv, the table checksums of the very data state the dump's
 * snapshot holds, while the app goes on writing (CONSISTENT_DUMP_IN_CONTAINER). After
 * DUMP_FILES_CLEANUP.
 */
export function consistentDumpLines(sink: string): string[] {
  return [
    `dump_dir="/tmp/qgo-dump-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \\n')"`,
    `docker exec "$db" bash -c ${q(CONSISTENT_DUMP_IN_CONTAINER)} qgo-dump "$dump_dir" "$checksum_query_sql" "$checksums_session" "$checksums_header" 2> "$work/dump.err" | ${sink} || { grep -av ${q(`^${DUMP_FILE_MARK}`)} "$work/dump.err" >&2 || true; echo "mysqldump failed" >&2; exit 1; }`,
    `dump_dir=""`,
    `grep -av ${q(`^${DUMP_FILE_MARK}`)} "$work/dump.err" >&2 || true`,
    `sed -n ${q(`s/^${DUMP_FILE_MARK}//p`)} "$work/dump.err" > "$work/dump-files"`,
    `echo "writes_paused_ms=$(head -n 1 "$work/dump-files")"`,
    `tail -n +2 "$work/dump-files" > "$work/checksums.tsv"`,
    `echo "checksums: $(checksum_figures "$work/checksums.tsv")"`,
  ];
}

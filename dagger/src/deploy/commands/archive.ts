// The backup archive, written and verified reading everything once: the dump as one stream
// (compressed as mysqldump writes it, never decompressed or compressed again), the uploads
// stored as they are, and a verification that decompresses the archive once, in memory,
// comparing each part with what was written.
import { q } from "./shared.js";

/**
 * Shell functions (define them, then call them in this order):
 *
 * - `stream_dump DIR` reads the dump on stdin and writes DIR/db.sql.gz while, from the same
 *   stream, counting its bytes (db.size), hashing it (db.sha256) and keeping its end (db.tail:
 *   the completion line). gzip -1: on a 50 MB dump 2.6x faster than the default level for 2.6%
 *   more bytes, and the backup waits on it.
 * - `write_archive DIR ARCHIVE` writes ARCHIVE, a .tar.gz of DIR's checksums.tsv and db.sql
 *   (when there is a dump), the small members, then backend/uploads, as gzip members one after
 *   the other (gzip reads them as one stream): the dump's tar headers, the compressed dump as it
 *   is (its header is tar's own, from a sparse file of the dump's size), the small members
 *   (their tar end cut off) and the uploads, stored. The length and sha256 of each part of the
 *   decompressed stream go to DIR/parts as the parts pass.
 * - `verify_archive DIR ARCHIVE` decompresses ARCHIVE once (every gzip member's CRC checked)
 *   into tar, which must read it whole, and into sha256 part by part: each part must be the
 *   one written (the dump: the one mysqldump streamed), and nothing may follow.
 */
export const ARCHIVE_STREAM = [
  // Passes stdin through and leaves "LENGTH SHA256" of it in DIR/.measured (and, given a
  // file, its last 512 bytes there): one tee for all, each pass over a pipe costs.
  `measure() {`,
  `  local d=$1 tail_to=\${2:-} pids=() more=() p`,
  `  mkfifo "$d/.measure.sha" "$d/.measure.len"`,
  `  { sha256sum | cut -c1-64; } < "$d/.measure.sha" > "$d/.measure.sha.out" & pids+=($!)`,
  `  wc -c < "$d/.measure.len" > "$d/.measure.len.out" & pids+=($!)`,
  `  if [ -n "$tail_to" ]; then`,
  `    mkfifo "$d/.measure.tail" && more+=("$d/.measure.tail")`,
  `    tail -c 512 < "$d/.measure.tail" > "$tail_to" & pids+=($!)`,
  `  fi`,
  `  tee "$d/.measure.sha" "$d/.measure.len" "\${more[@]}"`,
  `  for p in "\${pids[@]}"; do wait "$p"; done`,
  `  echo "$(cat "$d/.measure.len.out") $(cat "$d/.measure.sha.out")" > "$d/.measured"`,
  `  rm -f "$d/.measure.sha" "$d/.measure.len" "$d/.measure.tail" "$d/.measure.sha.out" "$d/.measure.len.out"`,
  `}`,
  `stream_dump() {`,
  `  local d=$1 size sha`,
  `  measure "$d" "$d/db.tail" | gzip -1 -c > "$d/db.sql.gz"`,
  `  read -r size sha < "$d/.measured"`,
  `  echo "$size" > "$d/db.size" && echo "$sha" > "$d/db.sha256"`,
  `  rm -f "$d/.measured"`,
  `}`,
  // Uploads are mostly images and PDFs, which do not compress: deflating them would be most of
  // the backup's time (as long as a plain tar czf) for a few percent. They go in a gzip member
  // of stored blocks (perl's IO::Compress, in Debian's and Ubuntu's perl), or deflated by gzip
  // where that module is missing. Either is a gzip member every gzip and tar reads.
  `stored_gzip() {`,
  `  if perl -MIO::Compress::Gzip -e 1 2>/dev/null; then`,
  `    perl -MIO::Compress::Gzip=gzip -e ${q('gzip("-" => "-", Level => 0, Minimal => 1, BinModeIn => 1) or die "stored_gzip: $IO::Compress::Gzip::GzipError\\n"')}`,
  `  else`,
  `    gzip -c`,
  `  fi`,
  `}`,
  // Passes stdin through and appends "NAME LENGTH SHA256" of it to DIR/parts.
  `part() {`,
  `  measure "$1"`,
  `  echo "$2 $(cat "$1/.measured")" >> "$1/parts"`,
  `  rm -f "$1/.measured"`,
  `}`,
  `write_archive() {`,
  `  local d=$1 archive=$2 size=0 sums header pad h m small=()`,
  `  for m in NO_DATABASE uploads.manifest release.json config backend/logs; do [ ! -e "$d/$m" ] || small+=("./$m"); done`,
  `  : > "$d/parts"`,
  `  {`,
  `    if [ -f "$d/db.sql.gz" ]; then`,
  `      size=$(cat "$d/db.size")`,
  `      h=$(mktemp -d "$d/.header.XXXXXX")`,
  `      cp -p "$d/checksums.tsv" "$h/checksums.tsv"`,
  // Dated as the dump (not now), so that the headers are the same whenever they are made.
  `      truncate -s "$size" "$h/db.sql" && touch -r "$d/db.sql.gz" "$h/db.sql"`,
  `      sums=$(stat -c %s "$h/checksums.tsv")`,
  // Two headers and the checksums between them, in 512-byte blocks (-b 1: no record padding).
  `      header=$(( 512 + (sums + 511) / 512 * 512 + 512 ))`,
  // tar stops (SIGPIPE) once the headers are out, rather than read the sparse file's zeros
  // (0.3 s for 50 MB); what it wrote must be the headers whole.
  `      { tar -b 1 -C "$h" -cf - ./checksums.tsv ./db.sql 2>/dev/null || true; } | head -c "$header" | part "$d" headers | gzip -c`,
  `      rm -rf "$h"`,
  `      [ "$(awk '$1 == "headers" { print $2 }' "$d/parts")" = "$header" ] || { echo "backup failed: tar did not write the dump's headers" >&2; return 1; }`,
  `      echo "dump $size $(cat "$d/db.sha256")" >> "$d/parts"`,
  `      cat "$d/db.sql.gz"`,
  `    fi`,
  `    pad=$(( (512 - size % 512) % 512 ))`,
  // A tar archive ends with two zero blocks (1024 bytes with -b 1): cut where more follows.
  `    if [ -d "$d/backend/uploads" ]; then`,
  `      { head -c "$pad" /dev/zero; tar -b 1 -C "$d" -cf - "\${small[@]}" | head -c -1024; } | part "$d" small | gzip -c`,
  `      tar -b 1 -C "$d" -cf - ./backend/uploads | part "$d" uploads | stored_gzip`,
  `    else`,
  `      { head -c "$pad" /dev/zero; tar -b 1 -C "$d" -cf - "\${small[@]}"; } | part "$d" small | gzip -c`,
  `    fi`,
  `  } > "$archive"`,
  `}`,
  `verify_archive() {`,
  `  local d=$1 archive=$2 name len sha got tar_pid`,
  `  rm -f "$d/.verify.tar" && mkfifo "$d/.verify.tar"`,
  // tar reads the stream whole (and is drained, so that it never stops the tee early).
  `  { tar -tf - > /dev/null 2> "$d/.verify.tar.err"; echo $? > "$d/.verify.tar.rc"; cat > /dev/null; } < "$d/.verify.tar" &`,
  `  tar_pid=$!`,
  `  gzip -dc "$archive" | tee "$d/.verify.tar" | {`,
  `    while read -r name len sha <&3; do`,
  `      got=$(head -c "$len" | sha256sum | cut -c1-64)`,
  `      [ "$got" = "$sha" ] || { echo "backup verification failed: the archive's $name differs from what was written" >&2; exit 1; }`,
  `    done 3< "$d/parts"`,
  `    [ "$(head -c 1 | wc -c)" -eq 0 ] || { echo "backup verification failed: the archive holds more than was written" >&2; exit 1; }`,
  `    cat > /dev/null`,
  `  } || { wait "$tar_pid" || true; echo "backup verification failed: the archive is damaged or differs from what was written" >&2; return 1; }`,
  `  wait "$tar_pid"`,
  `  [ "$(cat "$d/.verify.tar.rc")" = 0 ] || { echo "backup verification failed: tar cannot read the archive: $(head -n 1 "$d/.verify.tar.err")" >&2; return 1; }`,
  `  rm -f "$d/.verify.tar" "$d/.verify.tar.err" "$d/.verify.tar.rc"`,
  `}`,
];

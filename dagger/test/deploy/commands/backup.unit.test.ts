// Backups, run for real in a scratch dir: retention, and the uploads manifest that proves the
// archive holds exactly the files that were archived.
import { spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { quote } from "zx";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("backup", () => {
  it("retention keeps the newest five of this environment, never the new one, never another env's", () => {
    const env = envIn(join(scratch(), "retention"));
    mkdirSync(env.backupsDir, { recursive: true });
    const names = [1, 2, 3, 4, 5, 6, 7].map((d) => `backup_staging_2026010${d}_120000.tar.gz`);
    const production = "backup_production_20250101_000000.tar.gz";
    for (const name of [...names, production, "notes.txt"])
      writeFileSync(join(env.backupsDir, name), "x");
    // The "new" one is deliberately not the newest by name: it must survive anyway.
    const result = bash(commands.pruneBackups(env, names[0]!).script);
    expect(result.status).toBe(0);
    const left = readdirSync(env.backupsDir).sort();
    expect(left).toEqual(
      [production, names[0], names[3], names[4], names[5], names[6], "notes.txt"].sort(),
    );
  });

  it("retention never deletes the newest proven backup nor the one before the last migration", () => {
    const env = envIn(join(scratch(), "protected"));
    mkdirSync(env.backupsDir, { recursive: true });
    const names = [1, 2, 3, 4, 5, 6, 7, 8, 9].map(
      (d) => `backup_staging_2026010${d}_120000.tar.gz`,
    );
    for (const name of names) writeFileSync(join(env.backupsDir, name), "x");
    // Proven: 1 and 2 (2 is the newest proven: 3..9 were never proven). 1 came before the last
    // migration. Unproven archives: only the newest stays.
    for (const d of [0, 1]) writeFileSync(join(env.backupsDir, `${names[d]}.proof`), "tables=1\n");
    mkdirSync(commands.serverPaths(env).state, { recursive: true });
    writeFileSync(commands.serverPaths(env).backupBeforeMigration, `${names[0]}\n`);
    for (const d of [5, 6]) writeFileSync(join(env.backupsDir, `${names[d]}.unproven`), "x");
    const result = bash(commands.pruneBackups(env, names[8]!).script);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain(`kept ${names[1]}: the newest proven backup`);
    expect(result.stdout).toContain(`kept ${names[0]}: taken before the last migration`);
    const left = readdirSync(env.backupsDir).sort();
    expect(left).toEqual(
      [
        names[0],
        `${names[0]}.proof`,
        names[1],
        `${names[1]}.proof`,
        names[4],
        names[5],
        names[6],
        `${names[6]}.unproven`,
        names[7],
        names[8],
      ].sort(),
    );
    // A rollback's retention keeps the backup it is about to restore, however old.
    for (const name of names) writeFileSync(join(env.backupsDir, name), "x");
    const restoring = bash(commands.pruneBackups(env, names[8]!, names[2]).script);
    expect(restoring.stdout).toContain(`kept ${names[2]}: the backup this rollback restores`);
    expect(readdirSync(env.backupsDir)).toContain(names[2]);
    // Without the protections the same run would have removed both.
    const unprotected = envIn(join(scratch(), "unprotected"));
    mkdirSync(unprotected.backupsDir, { recursive: true });
    for (const name of names) writeFileSync(join(unprotected.backupsDir, name), "x");
    expect(bash(commands.pruneBackups(unprotected, names[8]!).script).status).toBe(0);
    expect(readdirSync(unprotected.backupsDir)).not.toContain(names[1]);
  });
});

describe("the uploads in a backup, file by file", () => {
  /** A docker stand-in with nothing running: the backup takes the no-database path. */
  function dockerStandIn(dir: string): string {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "docker"), "#!/bin/sh\nexit 0\n");
    chmodSync(join(bin, "docker"), 0o755);
    return `export PATH=${quote(bin)}:"$PATH"\n`;
  }
  const names = ["a b.png", "new\nline.pdf", `it's "q".txt`, "ünïcødé.txt", "-rf", "d/deeper/x"];

  it("the archive holds a manifest (sha256, size, name) that its uploads are checked against", () => {
    const env = envIn(join(scratch(), "manifest"));
    const uploads = join(env.appDir, "backend", "uploads");
    for (const name of names) {
      mkdirSync(join(uploads, name, ".."), { recursive: true });
      writeFileSync(join(uploads, name), `content of ${name}`);
    }
    mkdirSync(env.backupsDir, { recursive: true });
    const path = dockerStandIn(scratch());
    const name = "backup_staging_20260101_120000.tar.gz";
    const made = bash(path + commands.createBackup(env, name).script);
    expect(made.stderr).toBe("");
    expect(made.stdout).toContain(`upload_files=${names.length}`);
    const archive = join(env.backupsDir, name);
    const manifest = bash(`tar -xzOf ${quote(archive)} ./uploads.manifest`).stdout.split("\0");
    expect(manifest.filter(Boolean).map((r) => r.split(" ").slice(2).join(" "))).toEqual(
      names.map((n) => `./${n}`).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))),
    );
    expect(bash(path + commands.verifyBackup(env, name).script).status).toBe(0);

    // Tampered after writing: same size, other bytes; one removed; one added. Each is refused.
    const tampered = [
      `printf 'CONTENT of a b.png' > 'backend/uploads/a b.png'`,
      `rm -- backend/uploads/-rf`,
      `printf x > backend/uploads/extra`,
    ];
    for (const [i, change] of tampered.entries()) {
      const copy = `backup_staging_2026010${i + 2}_120000.tar.gz`;
      const repack = bash(
        `set -e; d=$(mktemp -d); tar -C "$d" -xzf ${quote(archive)}; cd "$d"; ${change}; ` +
          `tar -czf ${quote(join(env.backupsDir, copy))} ./db.sql ./NO_DATABASE ./uploads.manifest ./config ./backend 2>/dev/null || ` +
          `tar -czf ${quote(join(env.backupsDir, copy))} ./NO_DATABASE ./uploads.manifest ./config ./backend`,
      );
      expect(repack.status, repack.stderr).toBe(0);
      const verified = bash(path + commands.verifyBackup(env, copy).script);
      expect(verified.status, change).toBe(1);
      expect(verified.stderr).toContain("the uploads in the archive differ from its manifest");
    }
    // The verification's scratch dir is gone.
    expect(readdirSync(env.backupsDir).filter((f) => f.startsWith("."))).toEqual([]);
  });
});

describe("the dump, streamed once into the archive", () => {
  /** A `perl` without IO::Compress (a minimal Debian): the uploads are deflated by gzip. */
  function perlWithoutZlib(dir: string): string {
    const bin = join(dir, "bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(
      join(bin, "perl"),
      '#!/bin/sh\necho "Can\'t locate IO/Compress/Gzip.pm" >&2\nexit 2\n',
    );
    chmodSync(join(bin, "perl"), 0o755);
    return `export PATH=${quote(bin)}:"$PATH"`;
  }
  /**
   * Streams `dump` through stream_dump, assembles the archive with write_archive and returns
   * what GNU tar and gzip (the ground truth) read back.
   */
  function streamed(dump: Buffer | undefined, checksums: string, how: { perl: boolean }) {
    const dir = join(scratch(), `stream ${dump?.length ?? "none"} ${how.perl}`);
    const work = join(dir, "work");
    mkdirSync(join(work, "backend", "uploads", "a b"), { recursive: true });
    mkdirSync(join(work, "backend", "logs"), { recursive: true });
    mkdirSync(join(work, "config"), { recursive: true });
    writeFileSync(join(work, "checksums.tsv"), checksums);
    writeFileSync(join(work, "uploads.manifest"), "m\0");
    writeFileSync(join(work, "config", "docker-compose.yml"), "services: {}\n");
    writeFileSync(join(work, "backend", "logs", "app.log"), "a log line\n".repeat(1000));
    writeFileSync(join(work, "backend", "uploads", "a b", "new\nline.png"), "png");
    // 256 KB of zeros: 256 KB when stored, a few hundred bytes when deflated.
    writeFileSync(join(work, "backend", "uploads", "zeros.bin"), Buffer.alloc(256 * 1024));
    if (dump) writeFileSync(join(dir, "dump.sql"), dump);
    else writeFileSync(join(work, "NO_DATABASE"), "no database\n");
    const archive = join(dir, "backup.tar.gz");
    const made = bash(
      [
        "set -euo pipefail",
        ...(how.perl ? [] : [perlWithoutZlib(dir)]),
        ...commands.ARCHIVE_STREAM,
        ...(dump ? [`stream_dump ${quote(work)} < ${quote(join(dir, "dump.sql"))}`] : []),
        `write_archive ${quote(work)} ${quote(archive)}`,
        `verify_archive ${quote(work)} ${quote(archive)}`,
      ].join("\n"),
    );
    expect(made.stderr).toBe("");
    expect(made.status).toBe(0);
    const read = (args: string) =>
      spawnSync("bash", ["-c", `tar ${args}`], { encoding: "buffer", maxBuffer: 1 << 30 }).stdout;
    return {
      work,
      archive,
      archiveBytes: statSync(archive).size,
      listing: bash(`tar -tzf ${quote(archive)}`)
        .stdout.split("\n")
        .filter(Boolean),
      dumpBack: read(`-xzOf ${quote(archive)} --occurrence=1 ./db.sql`),
      checksumsBack: read(`-xzOf ${quote(archive)} --occurrence=1 ./checksums.tsv`).toString(),
      upload: read(`-xzOf ${quote(archive)} './backend/uploads/a b/new\nline.png'`).toString(),
      zeros: read(`-xzOf ${quote(archive)} ./backend/uploads/zeros.bin`),
      log: read(`-xzOf ${quote(archive)} ./backend/logs/app.log`).toString(),
      strict: bash(
        `gzip -t ${quote(archive)} && tar --warning=all -tzf ${quote(archive)} 2>&1 >/dev/null`,
      ),
    };
  }
  const dumpOf = (bytes: number) => {
    const end = Buffer.from("\n-- Dump completed on 2026-12-03  8:00:00\n");
    return Buffer.concat([randomBytes(bytes - end.length), end]);
  };
  const rest = [
    "./uploads.manifest",
    "./config/",
    "./config/docker-compose.yml",
    "./backend/logs/",
    "./backend/logs/app.log",
    "./backend/uploads/",
    "./backend/uploads/a b/",
    "./backend/uploads/a b/new\\nline.png",
    "./backend/uploads/zeros.bin",
  ];
  /** The listing, the uploads (last, in the directory's order) sorted. */
  const ordered = (listing: string[]) => {
    const at = listing.indexOf("./backend/uploads/");
    return [...listing.slice(0, at), ...listing.slice(at).sort()];
  };

  it.each([
    ["an odd size", 70_001, "shipments\t3\t12345\n"],
    ["a size of whole tar blocks", 512 * 40, "a\t1\t1\nb\t2\t2\n"],
    ["no tables (empty checksums)", 1000, ""],
  ])("%s: tar reads the dump, the checksums and what follows, byte for byte", (_, bytes, sums) => {
    const dump = dumpOf(bytes);
    const got = streamed(dump, sums, { perl: true });
    expect(ordered(got.listing)).toEqual(["./checksums.tsv", "./db.sql", ...rest]);
    expect(got.strict.stdout).toBe("");
    expect(got.strict.status).toBe(0);
    expect(got.dumpBack.equals(dump)).toBe(true);
    expect(got.checksumsBack).toBe(sums);
    expect(got.upload).toBe("png");
    expect(got.zeros.equals(Buffer.alloc(256 * 1024))).toBe(true);
    expect(got.log).toBe("a log line\n".repeat(1000));
    // The figures come from the same stream: size, sha256, the completion line.
    const file = (name: string) => readFileSync(join(got.work, name), "utf8");
    expect(file("db.size").trim()).toBe(String(bytes));
    expect(file("db.sha256").trim()).toBe(createHash("sha256").update(dump).digest("hex"));
    expect(file("db.tail")).toMatch(/-- Dump completed on .*\n$/);
  });

  it("the uploads are stored, not deflated; without perl's IO::Compress gzip deflates them", () => {
    const stored = streamed(dumpOf(5000), "t\t1\t1\n", { perl: true });
    const deflated = streamed(dumpOf(5000), "t\t1\t1\n", { perl: false });
    for (const got of [stored, deflated]) {
      expect(got.strict.stdout).toBe("");
      expect(ordered(got.listing)).toEqual(["./checksums.tsv", "./db.sql", ...rest]);
      expect(got.zeros.equals(Buffer.alloc(256 * 1024))).toBe(true);
      expect(got.upload).toBe("png");
    }
    expect(stored.archiveBytes).toBeGreaterThan(256 * 1024);
    expect(deflated.archiveBytes).toBeLessThan(64 * 1024);
  });

  it("with no database (first deploy) the archive holds NO_DATABASE and the rest", () => {
    const got = streamed(undefined, "", { perl: true });
    expect(got.strict.stdout).toBe("");
    expect(got.strict.status).toBe(0);
    expect(ordered(got.listing)).toEqual(["./NO_DATABASE", ...rest]);
    expect(got.upload).toBe("png");
  });

  const verify = (work: string, archive: string) =>
    bash(["set -euo pipefail", ...commands.ARCHIVE_STREAM, `verify_archive ${quote(work)} ${quote(archive)}`].join("\n")); // prettier-ignore

  it("verification refuses an archive damaged on disk, or holding other uploads than written", () => {
    const got = streamed(dumpOf(5000), "t\t1\t1\n", { perl: true });
    expect(verify(got.work, got.archive).status).toBe(0);
    // One byte flipped in the stored uploads (the archive's last part): its CRC fails.
    const bytes = readFileSync(got.archive);
    const damaged = join(got.work, "..", "damaged.tar.gz");
    const flipped = Buffer.from(bytes);
    const at = bytes.length - 2000;
    flipped.writeUInt8(flipped.readUInt8(at) ^ 0xff, at);
    writeFileSync(damaged, flipped);
    const refused = verify(got.work, damaged);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain("the archive is damaged or differs from what was written");
    // A whole, readable archive, but with an upload written since: its uploads are not the ones.
    const parts = readFileSync(join(got.work, "parts"));
    writeFileSync(join(got.work, "backend", "uploads", "a b", "new\nline.png"), "PNG");
    const other = join(got.work, "..", "other.tar.gz");
    const rewritten = bash(["set -euo pipefail", ...commands.ARCHIVE_STREAM, `write_archive ${quote(got.work)} ${quote(other)}`].join("\n")); // prettier-ignore
    expect(rewritten.status, rewritten.stderr).toBe(0);
    writeFileSync(join(got.work, "parts"), parts);
    const differs = verify(got.work, other);
    expect(differs.status).toBe(1);
    expect(differs.stderr).toContain("the archive's uploads differs from what was written");
    // More than was written: a gzip member appended.
    const longer = join(got.work, "..", "longer.tar.gz");
    writeFileSync(longer, Buffer.concat([bytes, gzipSync(Buffer.alloc(1024))]));
    expect(verify(got.work, longer).stderr).toContain("the archive holds more than was written");
  });
});

describe("an upload changed in place during the backup", () => {
  it("is refused: the manifest and the archive could differ", () => {
    const env = envIn(join(scratch(), "changed"));
    const uploads = join(env.appDir, "backend", "uploads");
    mkdirSync(uploads, { recursive: true });
    writeFileSync(join(uploads, "photo.png"), "before");
    mkdirSync(env.backupsDir, { recursive: true });
    // No database container; sha256sum (the manifest's) appends to the live upload once.
    const bin = join(scratch(), "changed-bin");
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, "docker"), "#!/bin/sh\nexit 0\n");
    const once = join(scratch(), "changed-once");
    writeFileSync(join(bin, "sha256sum"), `#!/bin/bash\n/usr/bin/sha256sum "$@"\nrc=$?\nif [ ! -e ${quote(once)} ]; then : > ${quote(once)}; printf ' after' >> ${quote(join(uploads, "photo.png"))}; fi\nexit $rc\n`); // prettier-ignore
    for (const f of ["docker", "sha256sum"]) chmodSync(join(bin, f), 0o755);
    const path = `export PATH=${quote(bin)}:"$PATH"\n`;
    const name = "backup_staging_20260101_120000.tar.gz";
    const made = bash(path + commands.createBackup(env, name).script);
    expect(made.status, made.stderr).toBe(1);
    expect(made.stderr).toContain("an upload was changed in place while the backup read it");
    expect(readdirSync(env.backupsDir).filter((f) => f.includes("backup_"))).toEqual([]);
    // Unchanged, the same backup is made.
    const again = bash(path + commands.createBackup(env, name).script);
    expect(again.stderr).toBe("");
    expect(again.stdout).toContain("upload_files=1");
  });
});

// Upload names are user data. A generated uploads tree with every kind of name a Linux file
// system allows (spaces, newlines, quotes, backslashes, leading dashes, invalid UTF-8, names
// that look like paths or like the archive's own members), deep, with empty dirs, symlinks and
// odd modes, goes through a deploy's verified backup and comes back byte-identical with
// `rollback --backup`. Crafted bad archives, dressed up with such names, are refused before
// anything changes. On the VPS-in-a-box, through the deploy core over real SSH.
import { createHash, randomBytes } from "node:crypto";
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { vpsBox } from "../vps/helpers.js";
import { deploy, rollback } from "../../src/deploy/index.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  backupsOf,
  boxCredentials,
  boxEnvironment,
  databaseFingerprint,
  emptyDirectory,
  outcome,
  resetEnvironment,
  servedThroughFrontend,
  testCaller,
  releaseImages,
} from "./support.js";

let box: VpsBox;
let env: EnvironmentSettings;
let releaseFiles: ReleaseFile[];
let credentials: ReturnType<typeof boxCredentials>;
let scratch: string;
const lines: string[] = [];
const caller = () => testCaller("upload-names", lines);
const images = (release: "v1" | "v2") => releaseImages(box, release);
const uploadsDir = () => join(env.appDir, "backend", "uploads");

const b = (text: string) => Buffer.from(text, "utf8");
const slash = b("/");
const joinBytes = (...parts: Buffer[]) =>
  Buffer.concat(parts.flatMap((part, i) => (i === 0 ? [part] : [slash, part])));

/** Names no deploy step may trip over: each is a file, a dir or a symlink below. */
const hostileNames: Buffer[] = [
  b("with space"),
  b(" leading space"),
  b("trailing space "),
  b("new\nline"),
  b("db.sql"),
  b("NO_DATABASE"),
  b("release.json"),
  b("'single quotes'"),
  b('"double quotes"'),
  b("back\\slash"),
  b("\\n not a newline"),
  b("-rf"),
  b("--help"),
  b("-"),
  b("*"),
  b("?"),
  b("$(touch qgo-pwned)"),
  b("`id`"),
  b("a;b&&c|d"),
  b("tab\there"),
  b("-> arrow"),
  b(".hidden"),
  b("..."),
  b("café"),
  Buffer.from([0xff, 0xfe, 0x41, 0x80]), // not UTF-8
  Buffer.from([0x1b, 0x5b, 0x33, 0x31, 0x6d, 0x72, 0x65, 0x64]), // a terminal escape
  Buffer.alloc(255, 0x61), // the longest name ext4 allows
];

/**
 * Writes the tree: every name as a file, the same names in a nested dir, deep dirs, links, and
 * dirs whose members list as "./backend/uploads/x ./db.sql" or with a newline before "./db.sql"
 * (a name holds no "/", a path does).
 */
function writeHostileTree(root: Buffer): void {
  const file = (path: Buffer, mode: number) => {
    writeFileSync(path, Buffer.concat([randomBytes(64), b("\n-- Dump completed\n")]));
    chmodSync(path, mode);
  };
  const modes = [0o644, 0o600, 0o755, 0o444, 0o640];
  hostileNames.forEach((name, i) => file(joinBytes(root, name), modes[i % modes.length]!));
  for (const lookalike of ["\n.", "x .", "y ."]) {
    const dir = joinBytes(root, b(lookalike));
    mkdirSync(dir);
    file(joinBytes(dir, b("db.sql")), 0o644);
    file(joinBytes(dir, b("NO_DATABASE")), 0o644);
  }
  const nested = joinBytes(root, b("nested dir\nwith a newline"));
  mkdirSync(nested);
  chmodSync(nested, 0o750);
  hostileNames.forEach((name) => file(joinBytes(nested, name), 0o600));
  let deep = joinBytes(root, b("deep"));
  for (let level = 0; level < 40; level += 1) deep = joinBytes(deep, b(`level ${level}`));
  mkdirSync(deep, { recursive: true });
  file(joinBytes(deep, b("bottom")), 0o644);
  mkdirSync(joinBytes(root, b("empty dir")));
  mkdirSync(joinBytes(root, b("-empty-dashed")));
  symlinkSync(b("with space"), joinBytes(root, b("link to a file")));
  symlinkSync(b("/etc/hostname"), joinBytes(root, b("absolute link")));
  symlinkSync(b("nowhere"), joinBytes(root, b("dangling link")));
  symlinkSync(b("../../../db.sql"), joinBytes(root, b("y ."), b("db.sql link")));
  symlinkSync(b("nested dir\nwith a newline"), joinBytes(root, b("link to a dir")));
}

/** Every entry below root: its name bytes, type, mode, owner, content hash or link target. */
function manifest(root: Buffer, prefix = Buffer.alloc(0)): string[] {
  const entries: string[] = [];
  for (const name of readdirSync(root, { encoding: "buffer" })) {
    const path = joinBytes(root, name);
    const relative = prefix.length ? joinBytes(prefix, name) : name;
    const stat = lstatSync(path);
    const head = `${relative.toString("hex")} ${(stat.mode & 0o7777).toString(8)} ${stat.uid}:${stat.gid}`;
    if (stat.isSymbolicLink()) {
      entries.push(`${head} link ${readlinkSync(path, { encoding: "buffer" }).toString("hex")}`);
    } else if (stat.isDirectory()) {
      entries.push(`${head} dir`);
      entries.push(...manifest(path, relative));
    } else {
      const hash = createHash("sha256").update(readFileSync(path)).digest("hex");
      entries.push(`${head} file ${stat.size} ${hash}`);
    }
  }
  return entries.sort();
}

beforeAll(async () => {
  box = vpsBox();
  credentials = boxCredentials(box);
  scratch = mkdtempSync(join(tmpdir(), "qgo-upload-names-"));
  await resetEnvironment(box, "staging");
  ({ env, releaseFiles } = await boxEnvironment(box, "staging"));
  const first = await outcome(
    deploy({ env, releaseFiles, ...images("v1") }, credentials, caller()),
  );
  if (!first.ok) throw first.error;
});

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
  emptyDirectory(uploadsDir());
});

/** How many regular files a tree holds (any name bytes; links and dirs not counted). */
function regularFiles(dir: Buffer): number {
  return readdirSync(dir, { withFileTypes: true, encoding: "buffer" }).reduce((sum, entry) => {
    const path = Buffer.concat([dir, Buffer.from("/"), entry.name]);
    if (entry.isDirectory()) return sum + regularFiles(path);
    return sum + (entry.isFile() ? 1 : 0);
  }, 0);
}

describe("upload names are data", () => {
  let backupWithHostileNames = "";
  let tree: string[] = [];

  it("a deploy's verified backup takes a tree of hostile names without a hitch", async () => {
    writeHostileTree(Buffer.from(uploadsDir()));
    tree = manifest(Buffer.from(uploadsDir()));
    expect(tree.length).toBeGreaterThan(2 * hostileNames.length + 40);
    const result = await outcome(
      deploy({ env, releaseFiles, ...images("v2") }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    backupWithHostileNames = result.report.backup ?? "";
    expect(backupsOf(box, "staging")).toContain(backupWithHostileNames);
    // Every regular file was checked against the archive's manifest (sha256, size, name).
    expect(result.report.log).toContain(
      `    upload_files=${regularFiles(Buffer.from(uploadsDir()))}`,
    );
    // No name ran as code on the server (the scripts run in the app dir or the backups dir).
    for (const dir of [env.appDir, box.backupsDir, uploadsDir()])
      expect(() => lstatSync(join(dir, "qgo-pwned"))).toThrow();
  });

  it("rollback --backup brings every name, byte, mode and link back exactly", async () => {
    emptyDirectory(uploadsDir());
    writeFileSync(join(uploadsDir(), "written later"), "later");
    const result = await outcome(
      rollback({ env, backup: backupWithHostileNames }, credentials, caller()),
    );
    if (!result.ok) throw result.error;
    expect(manifest(Buffer.from(uploadsDir()))).toEqual(tree);
    expect(await servedThroughFrontend(box, "staging")).toMatchObject({ version: "v1-box" });
  });

  // Archives a person could find in the backups dir: bad inside, dressed up with upload names
  // that look like what verification looks for. Each must be refused before anything changes.
  const badArchives: [title: string, refusal: RegExp, build: (work: string) => void][] = [
    [
      "no dump, but uploads named like one (and holding its completion line)",
      /no database dump in the archive/,
      () => {},
    ],
    [
      "a dump cut short, and an upload named db.sql that is complete",
      /database dump is incomplete/,
      (work) => writeFileSync(join(work, "db.sql"), "-- MariaDB dump\nCREATE TABLE `x` (\n"),
    ],
    ["an empty dump", /empty database dump/, (work) => writeFileSync(join(work, "db.sql"), "")],
  ];

  it.each(badArchives)("refuses a bad archive: %s", async (title, refusal, build) => {
    const work = mkdtempSync(join(scratch, "archive-"));
    const uploads = Buffer.from(join(work, "backend", "uploads"));
    mkdirSync(uploads, { recursive: true });
    writeHostileTree(uploads);
    build(work);
    // A valid name of this environment, dated so that no real backup has it.
    const name = `backup_staging_20000101_00000${badArchives.findIndex(([t]) => t === title)}.tar.gz`;
    const members = readdirSync(work).map((m) => `./${m}`);
    execFileSync("tar", ["-C", work, "-czf", join(box.backupsDir, name), ...members]);
    const before = {
      database: await databaseFingerprint(box, "staging"),
      uploads: manifest(Buffer.from(uploadsDir())),
      serving: (await servedThroughFrontend(box, "staging")).version,
    };
    const result = await outcome(rollback({ env, backup: name }, credentials, caller()));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.error.message).toMatch(/stopped at step verify-backup/);
    expect(result.error.message).toMatch(refusal);
    expect(result.error.message).toMatch(/Nothing was changed on the server/);
    expect(await databaseFingerprint(box, "staging")).toEqual(before.database);
    expect(manifest(Buffer.from(uploadsDir()))).toEqual(before.uploads);
    expect((await servedThroughFrontend(box, "staging")).version).toBe(before.serving);
    rmSync(join(box.backupsDir, name), { force: true });
  });

  it("refuses a damaged archive", async () => {
    expect(backupWithHostileNames).not.toBe("");
    const name = "backup_staging_20000109_000000.tar.gz";
    const good = readFileSync(join(box.backupsDir, backupWithHostileNames));
    writeFileSync(join(box.backupsDir, name), good.subarray(0, Math.floor(good.length / 2)));
    const result = await outcome(rollback({ env, backup: name }, credentials, caller()));
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.error.message).toMatch(/the archive is damaged/);
    rmSync(join(box.backupsDir, name), { force: true });
  });
});

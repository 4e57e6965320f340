// Directories and files of the executing engine, materialized as read-only trees on the host:
// every Directory value is a directory of its own under the run's work dir (an operation copies,
// never changes a tree another value points at); a File value is a path to one file.
import { createHash, randomBytes } from "node:crypto";
import { createReadStream } from "node:fs";
import {
  chmod,
  copyFile,
  lstat,
  mkdir,
  readdir,
  readlink,
  symlink,
  writeFile,
} from "node:fs/promises";
import { dirname, join, posix } from "node:path";

import { PatternMatcher } from "./patterns.js";

export interface DirectoryValue {
  kind: "Directory";
  path: string;
  /** Content digest (set by the executor once the tree is complete). */
  digest?: string;
}
export interface FileValue {
  kind: "File";
  path: string;
  digest?: string;
}

export interface CopyFilter {
  include?: readonly string[];
  exclude?: readonly string[];
}

/** A fresh directory under `root` for one value. */
export async function newTree(root: string, label: string): Promise<string> {
  const path = join(root, `${label}-${randomBytes(6).toString("hex")}`);
  await mkdir(path, { recursive: true });
  return path;
}

/**
 * Copies `source` into `target` (merging into what is there, as Dagger's copy does), keeping
 * only paths the filter lets through. Paths stay relative to `source`: include
 * ["backend/package.json"] gives target/backend/package.json, with its parent created.
 */
export async function copyFiltered(
  source: string,
  target: string,
  filter: CopyFilter = {},
): Promise<number> {
  const include = new PatternMatcher(filter.include ?? []);
  const exclude = new PatternMatcher(filter.exclude ?? []);
  const canReinclude = (filter.exclude ?? []).some((p) => p.trim().startsWith("!"));
  let copied = 0;
  const walk = async (relative: string): Promise<void> => {
    const entries = await readdir(join(source, relative), { withFileTypes: true });
    for (const entry of entries) {
      const rel = relative === "" ? entry.name : posix.join(relative, entry.name);
      const from = join(source, rel);
      const excluded = !exclude.empty && exclude.matchesOrParentMatches(rel);
      const included = include.empty || include.matchesOrParentMatches(rel);
      if (entry.isDirectory()) {
        if (excluded && !canReinclude) continue;
        if (included && !excluded) {
          const mode = (await lstat(from)).mode & 0o7777;
          await mkdir(join(target, rel), { recursive: true });
          await chmod(join(target, rel), mode);
        }
        if (included || include.mayMatchBelow(rel)) await walk(rel);
        continue;
      }
      if (!included || excluded) continue;
      const to = join(target, rel);
      await mkdir(dirname(to), { recursive: true });
      if (entry.isSymbolicLink()) {
        await symlink(await readlink(from), to);
      } else if (entry.isFile()) {
        await copyFile(from, to);
        await chmod(to, (await lstat(from)).mode & 0o7777);
      }
      copied += 1;
    }
  };
  await walk("");
  return copied;
}

/** Writes one file into a tree (parents created), as withNewFile does. */
export async function writeTreeFile(
  tree: string,
  path: string,
  contents: string | Buffer,
  permissions = 0o644,
): Promise<void> {
  const target = join(tree, cleanRelative(path));
  await mkdir(dirname(target), { recursive: true });
  await writeFile(target, contents);
  await chmod(target, permissions);
}

/** A path inside a Directory, as Dagger reads it: relative to the directory, "/" is its root. */
export function cleanRelative(path: string): string {
  const normalized = posix.normalize("/" + path).slice(1);
  if (normalized.startsWith("..")) throw new Error(`path ${path} leaves the directory`);
  return normalized;
}

/**
 * A tree's content digest (paths, modes, file contents, link targets), as Dagger content-hashes
 * directories: two checkouts with the same files give the same digest, so work on them is shared.
 */
export async function treeDigest(root: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    const entries = (await readdir(join(root, relative), { withFileTypes: true })).sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
    );
    for (const entry of entries) {
      const rel = relative === "" ? entry.name : posix.join(relative, entry.name);
      const path = join(root, rel);
      const mode = (await lstat(path)).mode;
      hash.update(`${rel}\0${mode}\0`);
      if (entry.isDirectory()) await walk(rel);
      else if (entry.isSymbolicLink()) hash.update(await readlink(path));
      else if (entry.isFile()) hash.update(await fileDigest(path));
      hash.update("\0");
    }
  };
  await walk("");
  return hash.digest("hex");
}

export async function fileDigest(path: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

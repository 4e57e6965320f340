// Reads what an operation needs from the repository: the environment's settings file and
// the compose files it names. `readFile` abstracts the source: the file system for tests and
// the benchmark, a Dagger Directory for the module's functions.
import { readFile as readFromDisk } from "node:fs/promises";
import { join } from "node:path";
import { assertEnvironmentName, resolveEnvironment, type EnvironmentOverrides, type EnvironmentSettings } from "./environments.js";
import type { ReleaseFile } from "./commands.js";

/** Returns the text of a repository file, or throws when it does not exist. */
export type RepoReader = (path: string) => Promise<string>;

export async function loadEnvironment(
  read: RepoReader,
  envName: string,
  overrides: EnvironmentOverrides = {},
): Promise<EnvironmentSettings> {
  assertEnvironmentName(envName);
  const text = await read(`deploy/environments/${envName}.json`);
  return resolveEnvironment(envName, text, overrides);
}

export async function loadReleaseFiles(read: RepoReader, env: EnvironmentSettings): Promise<ReleaseFile[]> {
  return Promise.all(
    env.composeFiles.map(async (name) => ({
      name,
      // A missing file becomes empty; the deploy's validation names it.
      content: await read(`deploy/${name}`).catch(() => ""),
    })),
  );
}

export function diskReader(repoRoot: string): RepoReader {
  return (path) => readFromDisk(join(repoRoot, path), "utf8");
}

export async function loadRepoFiles(
  repoRoot: string,
  envName: string,
  overrides: EnvironmentOverrides = {},
): Promise<{ env: EnvironmentSettings; releaseFiles: ReleaseFile[] }> {
  const read = diskReader(repoRoot);
  const env = await loadEnvironment(read, envName, overrides);
  return { env, releaseFiles: await loadReleaseFiles(read, env) };
}

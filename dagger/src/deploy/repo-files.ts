// Reads what an operation needs from the repository: the environment's settings file and
// the compose files it names. A RepoReader abstracts the source: the file system for tests
// and the benchmark, a Dagger Directory for the module's functions.
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import {
  assertEnvironmentName,
  DeployConfigError,
  ENVIRONMENT_NAME,
  ENVIRONMENTS_DIR,
  environmentFilePath,
  resolveEnvironment,
  type EnvironmentOverrides,
  type EnvironmentSettings,
} from "./environments.js";
import type { ReleaseFile } from "./commands/index.js";

export interface RepoReader {
  /** The text of a repository file; throws when it does not exist. */
  read(path: string): Promise<string>;
  /** The names in a repository directory (empty when it does not exist). */
  list(dir: string): Promise<string[]>;
}

/** The environments the repository defines: one per deploy/environments/<name>.json. */
export async function environmentNames(repo: RepoReader): Promise<string[]> {
  const names = (await repo.list(ENVIRONMENTS_DIR))
    .filter((file) => file.endsWith(".json"))
    .map((file) => file.slice(0, -".json".length))
    .filter((name) => ENVIRONMENT_NAME.test(name));
  return names.sort();
}

/** The text of environment `envName`'s file, after checking the name against the files there are. */
export async function environmentFileText(repo: RepoReader, envName: string): Promise<string> {
  assertEnvironmentName(envName);
  const known = await environmentNames(repo);
  if (known.length === 0) {
    throw new DeployConfigError(
      `No environments: ${ENVIRONMENTS_DIR}/ holds no <name>.json file. Nothing was changed.`,
    );
  }
  assertEnvironmentName(envName, known);
  return repo.read(environmentFilePath(envName));
}

export async function loadEnvironment(
  repo: RepoReader,
  envName: string,
  overrides: EnvironmentOverrides = {},
): Promise<EnvironmentSettings> {
  return resolveEnvironment(envName, await environmentFileText(repo, envName), overrides);
}

export async function loadReleaseFiles(
  repo: RepoReader,
  env: EnvironmentSettings,
): Promise<ReleaseFile[]> {
  return Promise.all(
    env.composeFiles.map(async (name) => ({
      name,
      // A missing file becomes empty; the deploy's validation names it.
      content: await repo.read(`deploy/${name}`).catch(() => ""),
    })),
  );
}

export function diskReader(repoRoot: string): RepoReader {
  return {
    read: (path) => readFile(join(repoRoot, path), "utf8"),
    list: (dir) => readdir(join(repoRoot, dir)).catch(() => []),
  };
}

export async function loadRepoFiles(
  repoRoot: string,
  envName: string,
  overrides: EnvironmentOverrides = {},
): Promise<{ env: EnvironmentSettings; releaseFiles: ReleaseFile[] }> {
  const repo = diskReader(repoRoot);
  const env = await loadEnvironment(repo, envName, overrides);
  return { env, releaseFiles: await loadReleaseFiles(repo, env) };
}

// Reads what a deploy needs from a checkout of the repository (tests, the benchmark and
// any plain-Node caller). The Dagger wrappers read the same files from a Directory.
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { resolveEnvironment, type EnvironmentOverrides, type EnvironmentSettings } from "./environments.js";
import type { ReleaseFile } from "./commands.js";

export async function loadRepoFiles(
  repoRoot: string,
  envName: string,
  overrides: EnvironmentOverrides = {},
): Promise<{ env: EnvironmentSettings; releaseFiles: ReleaseFile[] }> {
  let text: string;
  try {
    text = await readFile(join(repoRoot, "deploy", "environments", `${envName}.json`), "utf8");
  } catch {
    // resolveEnvironment names the known environments; an empty object fails validation there.
    text = "{}";
  }
  const env = resolveEnvironment(envName, text, overrides);
  const releaseFiles = await Promise.all(
    env.composeFiles.map(async (name) => ({
      name,
      content: await readFile(join(repoRoot, "deploy", name), "utf8").catch(() => ""),
    })),
  );
  return { env, releaseFiles };
}

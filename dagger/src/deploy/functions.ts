// What each method of the Dagger `Environment` object does, with plain values: the module
// layer (../environment.ts) only turns its arguments and Secrets into these calls. A Target is
// an environment's name plus the caller's overrides; an Operator is who operates and with
// which credentials (read from their Secrets only once the plain arguments are known valid).
import {
  parseEnvironmentFile,
  resolveEnvironment,
  type EnvironmentOverrides,
  type EnvironmentSettings,
} from "./environments.js";
import {
  environmentFileText,
  loadEnvironment,
  loadReleaseFiles,
  type RepoReader,
} from "./repo-files.js";
import { deploy } from "./deploy.js";
import { DeployError, type Caller, type Credentials, type OperationReport } from "./operation.js";
import {
  historyAndStatus,
  listBackups,
  listReleases,
  recentLogs,
  status,
  unlock,
} from "./queries.js";
import { rollback } from "./rollback.js";
import { formatReport } from "./report.js";
import { entriesOfRun, renderOperationSummary } from "./summary.js";

export interface Target {
  name: string;
  overrides: EnvironmentOverrides;
}

export interface Operator {
  credentials: () => Promise<Credentials>;
  /** Who operates (recorded in the lock, the history and the audit log). */
  holder?: string;
  /** URL of the CI run (recorded in the lock, so a stuck lock names its run). */
  runUrl?: string;
}

export interface DeployArgs {
  backendImage?: string;
  frontendImage?: string;
  /** What `publish` printed: BACKEND_IMAGE=… and FRONTEND_IMAGE=… lines. */
  release?: string;
  /** Another environment whose running release is deployed (read from its own server). */
  promoteFrom?: string;
  /** A tag publish pushed (e.g. develop), resolved to digests on the server. */
  tag?: string;
  /** Where the tag is (default: the environment file's imageRepository). */
  imageRepository?: string;
  dryRun?: boolean;
  approved?: boolean;
  commit?: string;
}

export interface RollbackArgs {
  backup?: string;
  to?: string;
  dryRun?: boolean;
}

function callerOf(operator: Operator, commit?: string): Caller {
  return {
    holder: operator.holder || "dagger call",
    ...(commit ? { commit } : {}),
    ...(operator.runUrl ? { runUrl: operator.runUrl } : {}),
    // Progress goes to stderr (the engine shows it live); the result is the returned text.
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

const load = (repo: RepoReader, target: Target) =>
  loadEnvironment(repo, target.name, target.overrides);

/** Runs an operation; a failure carries what ran, so the caller sees how far it got. */
async function reported(run: Promise<OperationReport>): Promise<string> {
  try {
    return formatReport(await run);
  } catch (error) {
    if (error instanceof DeployError) {
      throw new Error(
        `${error.message}\n\n${formatReport({ ...error.report, summary: "what ran:" })}`,
        { cause: error },
      );
    }
    throw error;
  }
}

/**
 * The environment a promotion reads from, reached on its own server with its own known_hosts;
 * when its file names no host (one server for both, --host given), as the target is reached.
 */
async function promotionSource(
  repo: RepoReader,
  name: string,
  target: EnvironmentSettings,
): Promise<EnvironmentSettings> {
  const text = await environmentFileText(repo, name);
  if (parseEnvironmentFile(name, text).host.trim() !== "") return resolveEnvironment(name, text);
  return resolveEnvironment(name, text, {
    host: target.host,
    sshPort: target.sshPort,
    sshUser: target.sshUser,
    knownHosts: target.knownHosts,
  });
}

export async function deployFunction(
  repo: RepoReader,
  target: Target,
  args: DeployArgs,
  operator: Operator,
): Promise<string> {
  const env = await load(repo, target);
  const releaseFiles = await loadReleaseFiles(repo, env);
  let images = { backendImage: args.backendImage ?? "", frontendImage: args.frontendImage ?? "" };
  if (args.release) {
    if (images.backendImage || images.frontendImage) {
      throw new Error(
        "Give either --release (publish's output) or --backend-image/--frontend-image, not both. Nothing was changed.",
      );
    }
    images = parsePublishOutput(args.release);
  }
  const promoteFrom = args.promoteFrom
    ? await promotionSource(repo, args.promoteFrom, env)
    : undefined;
  const request = {
    env,
    releaseFiles,
    ...(images.backendImage ? { backendImage: images.backendImage } : {}),
    ...(images.frontendImage ? { frontendImage: images.frontendImage } : {}),
    ...(promoteFrom ? { promoteFrom } : {}),
    ...(args.tag
      ? { tag: { tag: args.tag, repository: args.imageRepository || env.imageRepository } }
      : {}),
    dryRun: Boolean(args.dryRun),
    approved: Boolean(args.approved),
  };
  return reported(deploy(request, await operator.credentials(), callerOf(operator, args.commit)));
}

export async function rollbackFunction(
  repo: RepoReader,
  target: Target,
  args: RollbackArgs,
  operator: Operator,
): Promise<string> {
  const env = await load(repo, target);
  if (args.to && args.to !== "previous") {
    throw new Error(
      `--to accepts only "previous" (got "${args.to}"); to restore a backup use --backup NAME. Nothing was changed.`,
    );
  }
  const request = {
    env,
    ...(args.backup ? { backup: args.backup } : {}),
    toPrevious: args.to === "previous",
    dryRun: Boolean(args.dryRun),
  };
  return reported(rollback(request, await operator.credentials(), callerOf(operator)));
}

/**
 * Reads publish's output: BACKEND_IMAGE=ref and FRONTEND_IMAGE=ref (plus the informative
 * TAGS=…), in any order, separated by newlines or spaces. Both forms matter: CI hands the
 * lines on as they are, and a person pastes them from a job summary or a log, where a
 * workflow input or a shell may have turned the newline into a space.
 */
export function parsePublishOutput(text: string): { backendImage: string; frontendImage: string } {
  const found = new Map<string, string>();
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    const match = /^(BACKEND_IMAGE|FRONTEND_IMAGE|TAGS)=(.*)$/.exec(word);
    if (!match) {
      throw new Error(
        `--release: "${word.slice(0, 80)}" is not a BACKEND_IMAGE=…, FRONTEND_IMAGE=… or TAGS=… word: pass what \`publish\` printed. Nothing was changed.`,
      );
    }
    const [, name, value] = match as unknown as [string, string, string];
    if (found.has(name) && found.get(name) !== value) {
      throw new Error(
        `--release gives ${name} twice with different values: pass one release. Nothing was changed.`,
      );
    }
    found.set(name, value);
  }
  const value = (name: string) => {
    const ref = found.get(name);
    if (!ref) {
      throw new Error(
        `--release has no ${name}=… line: pass what \`publish\` printed (BACKEND_IMAGE=… and FRONTEND_IMAGE=…). Nothing was changed.`,
      );
    }
    return ref;
  };
  return { backendImage: value("BACKEND_IMAGE"), frontendImage: value("FRONTEND_IMAGE") };
}

type Query = (
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
) => Promise<OperationReport>;

async function queryFunction(
  query: Query,
  repo: RepoReader,
  target: Target,
  operator: Operator,
): Promise<string> {
  const env = await load(repo, target);
  try {
    return `${(await query(env, await operator.credentials(), callerOf(operator))).summary}\n`;
  } catch (error) {
    if (error instanceof DeployError) throw new Error(error.message, { cause: error });
    throw error;
  }
}

export const backupsFunction = (repo: RepoReader, target: Target, operator: Operator) =>
  queryFunction(listBackups, repo, target, operator);
export const releasesFunction = (repo: RepoReader, target: Target, operator: Operator) =>
  queryFunction(listReleases, repo, target, operator);
export const statusFunction = (repo: RepoReader, target: Target, operator: Operator) =>
  queryFunction(status, repo, target, operator);
export const unlockFunction = (
  repo: RepoReader,
  target: Target,
  operator: Operator,
  force = false,
) =>
  queryFunction(
    (env, credentials, caller) => unlock(env, credentials, caller, force),
    repo,
    target,
    operator,
  );
export const logsFunction = (
  repo: RepoReader,
  target: Target,
  args: { lines: number; service?: string },
  operator: Operator,
) =>
  queryFunction(
    (env, credentials, caller) => recentLogs(env, credentials, caller, args),
    repo,
    target,
    operator,
  );

/** Markdown for a job summary: this run's deploys and rollbacks as the server recorded them, and what serves now. */
export async function operationSummaryFunction(
  repo: RepoReader,
  target: Target,
  args: { outcome?: string },
  operator: Operator,
): Promise<string> {
  const env = await load(repo, target);
  try {
    const { history, status: now } = await historyAndStatus(
      env,
      await operator.credentials(),
      callerOf(operator),
    );
    const runUrl = operator.runUrl ?? "";
    return renderOperationSummary({
      env: env.name,
      runUrl,
      outcome: args.outcome ?? "",
      entries: entriesOfRun(history, runUrl),
      status: now,
    });
  } catch (error) {
    if (error instanceof DeployError) throw new Error(error.message, { cause: error });
    throw error;
  }
}

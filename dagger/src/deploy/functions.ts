// What each Dagger function does, with plain values: the methods in ../index.ts only turn
// their arguments and Secrets into these calls. Empty strings, 0 and [] mean "the value in
// deploy/environments/<env>.json", since Dagger function arguments need plain defaults.
import type { EnvironmentOverrides } from "./environments.js";
import { loadEnvironment, loadReleaseFiles, type RepoReader } from "./repo-files.js";
import { deploy, historyAndStatus, listBackups, listReleases, rollback, status, unlock, DeployError, type Caller, type Credentials } from "./deploy.js";
import { formatReport } from "./report.js";
import { entriesOfRun, renderOperationSummary } from "./summary.js";

export interface TargetArgs {
  env: string;
  host?: string;
  sshPort?: number;
  sshUser?: string;
  appDir?: string;
  backupsDir?: string;
  project?: string;
  composeFiles?: string[];
  backendPort?: number;
  frontendPort?: number;
  httpsPort?: number;
  backendHealthUrl?: string;
  frontendHealthUrl?: string;
  backupRetention?: number;
  healthAttempts?: number;
  migrateCommand?: string[];
}

export interface CallerArgs {
  holder?: string;
  commit?: string;
  runUrl?: string;
}

/** Secrets are read through this only once the arguments are known to be valid. */
export type CredentialSource = () => Promise<Credentials>;

const set = <T>(value: T | undefined, empty: T): value is T => value !== undefined && value !== empty;

export function overridesFrom(args: TargetArgs): EnvironmentOverrides {
  const o: EnvironmentOverrides = {};
  if (set(args.host, "")) o.host = args.host;
  if (set(args.sshPort, 0)) o.sshPort = args.sshPort;
  if (set(args.sshUser, "")) o.sshUser = args.sshUser;
  if (set(args.appDir, "")) o.appDir = args.appDir;
  if (set(args.backupsDir, "")) o.backupsDir = args.backupsDir;
  if (set(args.project, "")) o.project = args.project;
  if (args.composeFiles && args.composeFiles.length > 0) o.composeFiles = args.composeFiles;
  const ports: NonNullable<EnvironmentOverrides["ports"]> = {};
  if (set(args.backendPort, 0)) ports.backend = args.backendPort;
  if (set(args.frontendPort, 0)) ports.frontend = args.frontendPort;
  if (set(args.httpsPort, 0)) ports.https = args.httpsPort;
  if (Object.keys(ports).length > 0) o.ports = ports;
  const urls: NonNullable<EnvironmentOverrides["healthUrls"]> = {};
  if (set(args.backendHealthUrl, "")) urls.backend = args.backendHealthUrl;
  if (set(args.frontendHealthUrl, "")) urls.frontend = args.frontendHealthUrl;
  if (Object.keys(urls).length > 0) o.healthUrls = urls;
  if (set(args.backupRetention, 0)) o.backupRetention = args.backupRetention;
  if (set(args.healthAttempts, 0)) o.health = { attempts: args.healthAttempts };
  if (args.migrateCommand && args.migrateCommand.length > 0) o.migrateCommand = args.migrateCommand;
  return o;
}

function callerFrom(args: CallerArgs): Caller {
  return {
    holder: args.holder || "dagger call",
    ...(args.commit ? { commit: args.commit } : {}),
    ...(args.runUrl ? { runUrl: args.runUrl } : {}),
    // Progress goes to stderr (the engine shows it live); the result is the returned text.
    log: (line) => process.stderr.write(`${line}\n`),
  };
}

async function outcome(run: Promise<Parameters<typeof formatReport>[0]>): Promise<string> {
  try {
    return formatReport(await run);
  } catch (error) {
    if (error instanceof DeployError) {
      throw new Error(`${error.message}\n\n${formatReport({ ...error.report, summary: "what ran:" })}`, { cause: error });
    }
    throw error;
  }
}

export async function deployFunction(
  read: RepoReader,
  args: TargetArgs & CallerArgs & {
    backendImage?: string;
    frontendImage?: string;
    /** What `publish` printed: BACKEND_IMAGE=… and FRONTEND_IMAGE=… lines. */
    release?: string;
    promoteFrom?: string;
    dryRun?: boolean;
    approved?: boolean;
  },
  credentials: CredentialSource,
): Promise<string> {
  const env = await loadEnvironment(read, args.env, overridesFrom(args));
  const releaseFiles = await loadReleaseFiles(read, env);
  if (args.release) {
    if (args.backendImage || args.frontendImage) {
      throw new Error("Give either --release (publish's output) or --backend-image/--frontend-image, not both. Nothing was changed.");
    }
    const published = parsePublishOutput(args.release);
    args = { ...args, ...published };
  }
  // The source environment is reached with the same connection settings unless it has its own host.
  const promoteFrom = args.promoteFrom
    ? await loadEnvironment(read, args.promoteFrom, {
        host: env.host,
        sshPort: env.sshPort,
        sshUser: env.sshUser,
        ...(args.backupsDir ? { backupsDir: args.backupsDir } : {}),
      })
    : undefined;
  const request = {
    env,
    releaseFiles,
    ...(args.backendImage ? { backendImage: args.backendImage } : {}),
    ...(args.frontendImage ? { frontendImage: args.frontendImage } : {}),
    ...(promoteFrom ? { promoteFrom } : {}),
    dryRun: Boolean(args.dryRun),
    approved: Boolean(args.approved),
  };
  return outcome(deploy(request, await credentials(), callerFrom(args)));
}

export async function rollbackFunction(
  read: RepoReader,
  args: TargetArgs & CallerArgs & { backup?: string; to?: string; dryRun?: boolean },
  credentials: CredentialSource,
): Promise<string> {
  const env = await loadEnvironment(read, args.env, overridesFrom(args));
  if (args.to && args.to !== "previous") {
    throw new Error(`--to accepts only "previous" (got "${args.to}"); to restore a backup use --backup NAME. Nothing was changed.`);
  }
  const request = {
    env,
    ...(args.backup ? { backup: args.backup } : {}),
    toPrevious: args.to === "previous",
    dryRun: Boolean(args.dryRun),
  };
  return outcome(rollback(request, await credentials(), callerFrom(args)));
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
      throw new Error(`--release gives ${name} twice with different values: pass one release. Nothing was changed.`);
    }
    found.set(name, value);
  }
  const value = (name: string) => {
    const ref = found.get(name);
    if (!ref) {
      throw new Error(`--release has no ${name}=… line: pass what \`publish\` printed (BACKEND_IMAGE=… and FRONTEND_IMAGE=…). Nothing was changed.`);
    }
    return ref;
  };
  return { backendImage: value("BACKEND_IMAGE"), frontendImage: value("FRONTEND_IMAGE") };
}

type Query = typeof listBackups;

async function queryFunction(
  query: Query,
  read: RepoReader,
  args: TargetArgs & CallerArgs,
  credentials: CredentialSource,
): Promise<string> {
  const env = await loadEnvironment(read, args.env, overridesFrom(args));
  try {
    return `${(await query(env, await credentials(), callerFrom(args))).summary}\n`;
  } catch (error) {
    if (error instanceof DeployError) throw new Error(error.message, { cause: error });
    throw error;
  }
}

export const backupsFunction = (read: RepoReader, args: TargetArgs, credentials: CredentialSource) =>
  queryFunction(listBackups, read, args, credentials);
export const releasesFunction = (read: RepoReader, args: TargetArgs, credentials: CredentialSource) =>
  queryFunction(listReleases, read, args, credentials);
export const statusFunction = (read: RepoReader, args: TargetArgs, credentials: CredentialSource) =>
  queryFunction(status, read, args, credentials);
export const unlockFunction = (read: RepoReader, args: TargetArgs & CallerArgs, credentials: CredentialSource) =>
  queryFunction(unlock, read, args, credentials);

/** Markdown for a job summary: this run's deploys and rollbacks as the server recorded them, and what serves now. */
export async function operationSummaryFunction(
  read: RepoReader,
  args: TargetArgs & CallerArgs & { outcome?: string },
  credentials: CredentialSource,
): Promise<string> {
  const env = await loadEnvironment(read, args.env, overridesFrom(args));
  try {
    const { history, status: now } = await historyAndStatus(env, await credentials(), callerFrom(args));
    const runUrl = args.runUrl ?? "";
    return renderOperationSummary({ env: env.name, runUrl, outcome: args.outcome ?? "", entries: entriesOfRun(history, runUrl), status: now });
  } catch (error) {
    if (error instanceof DeployError) throw new Error(error.message, { cause: error });
    throw error;
  }
}

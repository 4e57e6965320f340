// The deploy, as its runbook reads: take the lock; preflight, verified backup and retention
// (nothing live changes yet); upload, log in, pull, migrate with the new image, switch, up,
// health checks; record, unlock, notify. Any failure after the backup puts the previous release
// (and, when migrations had started, the database) back. The runbook is one list of steps: the
// run executes it and --dry-run prints it, so the two cannot drift.
import { randomBytes } from "node:crypto";
import * as commands from "./commands/index.js";
import type { ReleaseFile, ReleaseImages, ReleaseRecord, RemoteCommand } from "./commands/index.js";
import { DeployConfigError, type EnvironmentSettings } from "./environments.js";
import { ConnectionLostError } from "./executor.js";
import { HostKeyError } from "./known-hosts.js";
import {
  DeployError,
  keyValues,
  liveRecord,
  LockLostError,
  lostConnection,
  notify,
  now,
  parseRecord,
  reason,
  recordQuietly,
  Session,
  type Caller,
  type Credentials,
  type OperationReport,
} from "./operation.js";
import { lockInfo, withLock } from "./lease.js";
import { autoRollback, recoveryPlan } from "./recovery.js";
import {
  dryRunReport,
  failedStepOf,
  noteLeftovers,
  planned,
  runSteps,
  unknown,
  type Step,
} from "./runbook.js";
import { validateDeployRequest, validateImages, validateReleaseFiles } from "./validate.js";

export interface DeployRequest {
  env: EnvironmentSettings;
  /** The compose files of the repository's deploy/ directory (names as in env.composeFiles). */
  releaseFiles: ReleaseFile[];
  backendImage?: string;
  frontendImage?: string;
  /** Deploy what this environment runs now (its recorded release) instead of image refs. */
  promoteFrom?: EnvironmentSettings;
  /** Deploy what a tag names now (e.g. develop), resolved to digests on the server. */
  tag?: { repository: string; tag: string };
  /** Version/commit of the release; read from the backend image's OCI labels when absent. */
  version?: string;
  commit?: string;
  dryRun?: boolean;
  /** Environments with approvalRequired deploy only when this is set (CI: the gated job). */
  approved?: boolean;
}

/** One release on its way to one environment: everything the runbook's commands are built from. */
interface Release {
  env: EnvironmentSettings;
  id: string;
  backup: string;
  files: ReleaseFile[];
  images: ReleaseImages;
  releaseEnv: string;
  /** docker login on the server for the pull (logged out after it), when a password is given. */
  login?: commands.RegistryLogin;
}

/** What the steps learn on the way, and what an automatic rollback must undo. */
interface DeployState {
  previousId: string;
  previous?: ReleaseRecord;
  version?: string;
  commit?: string;
  migrationsStarted: boolean;
  switched: boolean;
}

/** The runbook. `prepare` changes nothing live; a failure in `change` rolls back by itself. */
function runbook(
  session: Session,
  release: Release,
): { prepare: Step<DeployState>[]; change: Step<DeployState>[] } {
  const { env, id, backup, images } = release;
  return {
    prepare: [
      // Nothing an interrupted operation left running may write while this one works.
      { command: () => commands.awaitLeftovers(env, session.id), read: noteLeftovers(session) },
      {
        command: () => commands.preflight(env),
        read: async ({ stdout }, state) => {
          const current = keyValues(stdout).get("current") ?? "none";
          if (current !== "none" && !commands.isReleaseId(current)) {
            throw new Error(
              `the server's current release id ${commands.shown(current)} is malformed ` +
                `(${commands.serverPaths(env).current}); a deploy does not guess what serves`,
            );
          }
          state.previousId = current;
          if (state.previousId === "none") return;
          state.previous = await liveRecord(session, state.previousId);
        },
      },
      { command: () => commands.createBackup(env, backup) },
      { command: () => commands.pruneBackups(env, backup) },
    ],
    change: [
      { command: () => commands.uploadRelease(env, id, release.files, release.releaseEnv) },
      {
        command: () => commands.pullImages(env, images, id, release.login),
        read: ({ stdout }, state) => {
          // Labels the caller did not give come from the backend image; odd ones are dropped.
          const pulled = keyValues(stdout);
          state.version ??= pulled.get("version") || undefined;
          state.commit ??= pulled.get("commit") || undefined;
          if (state.version !== undefined && !commands.isLabelValue(state.version))
            state.version = undefined;
          if (state.commit !== undefined && !commands.isLabelValue(state.commit))
            state.commit = undefined;
        },
      },
      { command: () => commands.migrate(env, id), marks: "migrationsStarted" },
      { command: () => commands.switchRelease(env, id), marks: "switched" },
      { command: () => commands.composeUp(env) },
      { command: (state) => commands.healthCheck(env, state.version) },
    ],
  };
}

export async function deploy(
  request: DeployRequest,
  credentials: Credentials,
  caller: Caller,
): Promise<OperationReport> {
  const { env } = request;
  validateDeployRequest(request, credentials);
  const files = validateReleaseFiles(request.releaseFiles, env);
  const session = new Session(env, credentials, caller);
  const id = commands.releaseId(new Date(), randomBytes(3).toString("hex"));
  try {
    const { images, labels } = await imagesToDeploy(session, request);
    const release = releaseOf(env, id, files, images, labels, credentials);
    const start: DeployState = {
      previousId: "none",
      ...labels,
      migrationsStarted: false,
      switched: false,
    };
    const info = lockInfo(caller, `deploy ${id}`, release.backup);
    if (request.dryRun) return dryRun(session, release, start, info);
    if (!session.executor) await session.open();
    return await withLock(session, info, () => run(session, release, start));
  } catch (error) {
    if (error instanceof DeployError || error instanceof DeployConfigError) throw error;
    if (error instanceof HostKeyError) throw session.fail(error.message);
    if (error instanceof ConnectionLostError) throw lostConnection(session, `${env.name}:`, error);
    throw session.fail(`Deploy to ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

async function run(
  session: Session,
  release: Release,
  state: DeployState,
): Promise<OperationReport> {
  const { env, id, backup, images } = release;
  const book = runbook(session, release);

  // Preflight and verified backup: a failure here leaves the server as it was.
  try {
    await runSteps(session, book.prepare, state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Deploy to ${env.name}:`, error);
    const failedStep = failedStepOf(error, "preflight");
    const serving = state.previousId === "none" ? null : state.previousId;
    const entry = {
      ...entryOf(session, release),
      result: "failed" as const,
      serving,
      failedStep,
      message: reason(error),
    };
    await recordQuietly(session, session.entry(entry));
    await notify(session, `:x: deploy to ${env.name} stopped at ${failedStep}: nothing changed`);
    throw session.fail(
      `Deploy to ${env.name} stopped at step ${failedStep}: ${reason(error)}. Nothing was changed on the server; the lock was released.`,
    );
  }

  // From here on, any failure puts the previous release back.
  try {
    await runSteps(session, book.change, state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Deploy to ${env.name}:`, error, { backup });
    const failedStep = failedStepOf(error, "deploy");
    const what = `Deploy of release ${id}${state.version ? ` (version ${state.version})` : ""} to ${env.name} failed at step ${failedStep}: ${reason(error)}.`;
    await autoRollback(session, {
      what,
      failedStep,
      backup,
      id,
      images,
      ...state,
      action: "deploy",
    });
  }

  await session.run(successRecord(session, release, state, now()));
  const summary = `Deployed release ${id}${state.version ? ` (version ${state.version})` : ""} to ${env.name}: healthy. Backup before it: ${backup}.`;
  session.log(summary);
  await notify(session, `:white_check_mark: ${summary}`);
  return session.report(true, summary, { release: id, backup });
}

/** The exact plan, printed from the runbook; nothing connects (except a promotion's read). */
function dryRun(
  session: Session,
  release: Release,
  state: DeployState,
  info: commands.LockInfo,
): OperationReport {
  const { env, images, backup } = release;
  const book = runbook(session, release);
  const planState = { ...state, version: state.version ?? unknown.imageVersion };
  return dryRunReport(
    session,
    `deploy of ${images.backendImage} + ${images.frontendImage} to ${env.name}`,
    [
      { when: "", command: commands.acquireLock(env, info) },
      ...planned([...book.prepare, ...book.change], planState),
      { when: "", command: successRecord(session, release, planState, unknown.now) },
      { when: "", command: commands.releaseLock(env, info.token) },
      ...recoveryPlan(env, backup),
    ],
    { release: release.id },
  );
}

/** The images to deploy: the given digests, or exactly those the source environment runs now. */
async function imagesToDeploy(
  session: Session,
  request: DeployRequest,
): Promise<{ images: ReleaseImages; labels: { version?: string; commit?: string } }> {
  const given = { version: request.version, commit: request.commit };
  if (request.tag) {
    // The server that will pull the images resolves the tag, logged in as for the pull.
    const { repository, tag } = request.tag;
    await session.open();
    const resolve = commands.resolveTag(repository, tag, loginOf(session.credentials));
    const resolved = keyValues((await session.run(resolve)).stdout);
    const images = {
      backendImage: resolved.get("backend") ?? "",
      frontendImage: resolved.get("frontend") ?? "",
    };
    session.log(`tag ${tag} of ${repository} is ${images.backendImage}, ${images.frontendImage}`);
    validateImages(images);
    return { images, labels: given };
  }
  if (!request.promoteFrom) {
    const images = { backendImage: request.backendImage!, frontendImage: request.frontendImage! };
    validateImages(images);
    return { images, labels: given };
  }
  // Promotion reads the source on its own server, checked against its own known_hosts.
  const source = request.promoteFrom;
  const reader = await session.connect(source);
  try {
    const current = await reader.run(commands.readCurrentRelease(source));
    if (current.stdout.trim() === "none") {
      throw session.fail(
        `Cannot promote from ${source.name}: it runs no recorded release. Nothing was changed.`,
      );
    }
    const record = parseRecord(current.stdout.trim(), `${source.name}'s current release`);
    const images = { backendImage: record.backendImage, frontendImage: record.frontendImage };
    session.log(
      `promoting ${source.name}'s release ${record.id} (version ${record.version || "?"}): ${images.backendImage}, ${images.frontendImage}`,
    );
    validateImages(images);
    return {
      images,
      labels: {
        version: given.version ?? (record.version || undefined),
        commit: given.commit ?? (record.commit || undefined),
      },
    };
  } finally {
    session.absorb(reader);
    reader.close();
  }
}

function releaseOf(
  env: EnvironmentSettings,
  id: string,
  files: ReleaseFile[],
  images: ReleaseImages,
  labels: { version?: string; commit?: string },
  credentials: Credentials,
): Release {
  const login = loginOf(credentials);
  const backup = commands.backupName(env.name, new Date());
  return {
    env,
    id,
    backup,
    files,
    images,
    releaseEnv: commands.releaseEnvText(env, images, labels),
    ...(login ? { login } : {}),
  };
}

/** The registry login the server's pulls use, when a registry password is given. */
function loginOf(credentials: Credentials): commands.RegistryLogin | undefined {
  const { registryPassword, registryUsername } = credentials;
  return registryPassword
    ? { username: registryUsername ?? "deploy", password: registryPassword }
    : undefined;
}

/** The history entry's fields every outcome of this release's deploy records. */
function entryOf(session: Session, release: Release) {
  const { caller } = session;
  return {
    time: now(),
    env: release.env.name,
    action: "deploy" as const,
    release: release.id,
    ...release.images,
    holder: caller.holder,
    runUrl: caller.runUrl,
  };
}

/** The success record: the history entry, the audit line and the release's release.json. */
function successRecord(
  session: Session,
  release: Release,
  state: DeployState,
  time: string,
): RemoteCommand {
  const record: ReleaseRecord = {
    id: release.id,
    env: release.env.name,
    ...release.images,
    version: state.version ?? "",
    commit: state.commit ?? "",
    createdAt: time,
  };
  const entry = session.entry({
    ...entryOf(session, release),
    time,
    result: "success",
    serving: release.id,
    version: state.version,
    commit: state.commit,
    backup: release.backup,
  });
  return commands.recordRelease(release.env, entry, record);
}

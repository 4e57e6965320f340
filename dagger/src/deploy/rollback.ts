// Rollback: to a named backup (database, uploads and the release it belonged to) or to the
// release that served before the current one. Like a deploy, it holds the lock. A --backup
// rollback replaces the live database and uploads, so it first takes a verified backup of the
// current state (a rollback can itself be undone) and proves it restorable on a throwaway copy.
// --to previous changes code only (the database and uploads stay as they are), so no backup
// sits on its way: the previous release serves within seconds. Its runbook is a step list, as
// the deploy's: the run executes it and --dry-run prints it.
import * as commands from "./commands/index.js";
import type { HistoryEntry, ReleaseRecord } from "./commands/index.js";
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
  recordServing,
  Session,
  type Caller,
  type Credentials,
  type OperationReport,
} from "./operation.js";
import { lockInfo, withLock } from "./lease.js";
import { autoRollback, recoveryPlan } from "./recovery.js";
import {
  dryRunReport,
  afterLeftovers,
  planned,
  failedStepOf,
  retireStep,
  runSteps,
  unexpectedExit,
  unknown,
  type Step,
} from "./runbook.js";
import { validateBackupName, validateCredentials } from "./validate.js";

export interface RollbackRequest {
  env: EnvironmentSettings;
  /** A backup of this environment to restore (database, uploads, release files). */
  backup?: string;
  /** Put back the release that served before the current one. */
  toPrevious?: boolean;
  dryRun?: boolean;
}

/** What the steps learn on the way, and what an automatic rollback must undo. */
interface RollbackState {
  previousId: string;
  previous?: ReleaseRecord;
  /** The release to serve afterwards; null when the backup is from before the first deploy. */
  targetId: string | null;
  target?: ReleaseRecord;
  /** The safety backup's restore proof, for the summary and the history. */
  proof?: string;
  /** The database is being replaced (a restore): an automatic rollback restores it back. */
  migrationsStarted: boolean;
  switched: boolean;
  /** The restored release's containers were started beside the serving ones. */
  started: boolean;
}

/** The runbook. `prepare` changes nothing live; a failure in `change` rolls back by itself. */
function runbook(
  session: Session,
  request: RollbackRequest,
  safety: string | null,
): { prepare: Step<RollbackState>[]; change: Step<RollbackState>[] } {
  const { env, backup } = request;
  const servesRelease = {
    label: "when the backup holds a release",
    holds: (state: RollbackState) => state.targetId !== null,
  };
  const readCurrent: Step<RollbackState> = {
    command: () => commands.preflight(env),
    read: ({ stdout }, state) => {
      state.previousId = keyValues(stdout).get("current") ?? "none";
      if (state.previousId === "none") return;
      if (!commands.isReleaseId(state.previousId)) {
        // A damaged or hostile file must not stop a recovery, nor reach a script or a record.
        session.note(
          `The server's current release id ${commands.shown(state.previousId)} is malformed: ignored.`,
        );
        state.previousId = "none";
        return;
      }
      // The current release's record is what an automatic rollback health-checks; a missing
      // one does not block going back to a known good state.
      state.previous = liveRecord(session, state.previousId, stdout);
    },
  };
  const readTarget: Step<RollbackState> = backup
    ? {
        command: () => commands.verifyBackup(env, backup),
        ownsExitCode: true,
        read: ({ stdout, exitCode, stderr }, state) => {
          if (exitCode === 3)
            throw new DeployConfigError(
              `Backup ${backup} does not exist in ${env.backupsDir} (see \`backups --env ${env.name}\`).`,
            );
          if (exitCode !== 0) throw unexpectedExit({ stdout, stderr, exitCode }, "verify-backup");
          const json = keyValues(stdout).get("release_json");
          state.target = json ? parseRecord(json, `the release kept in ${backup}`) : undefined;
          state.targetId = state.target?.id ?? null;
        },
      }
    : {
        command: () => commands.readHistory(env),
        read: async ({ stdout }, state) => {
          state.targetId = previousServing(stdout, state.previousId);
          if (!state.targetId)
            throw new DeployConfigError(
              `${env.name} has no previous release to go back to (see \`releases --env ${env.name}\`).`,
            );
          const record = await session.run(commands.readReleaseRecord(env, state.targetId));
          state.target = parseRecord(record.stdout, `release ${state.targetId}`);
        },
      };
  const putBack: Step<RollbackState>[] = backup
    ? [
        { command: () => commands.stopApp(env) },
        { command: () => commands.restoreDatabase(env, backup), marks: "migrationsStarted" },
        { command: () => commands.restoreBackupFiles(env, backup), marks: "switched" },
      ]
    : [
        {
          command: (state) => commands.switchRelease(env, state.targetId ?? ""),
          marks: "switched",
        },
      ];
  // The release put back is served as a deploy serves one: beside, route, health, retire.
  const serve: Step<RollbackState>[] = [
    { command: () => commands.startRelease(env), when: servesRelease, marks: "started" },
    { command: () => commands.routeTraffic(env), when: servesRelease },
    {
      command: (state) => commands.healthCheck(env, state.target?.version || undefined),
      when: servesRelease,
    },
    retireStep(session, servesRelease),
  ];
  return {
    prepare: [
      afterLeftovers(session, readCurrent),
      readTarget,
      ...(safety
        ? [
            { command: () => commands.createBackup(env, safety) },
            {
              command: () => commands.proveBackup(env, safety, session.id),
              ownsExitCode: true,
              read: readSafetyProof(session, safety),
            },
            // Never the backup about to be restored, however old.
            { command: () => commands.pruneBackups(env, safety, backup) },
          ]
        : []),
    ],
    change: [
      ...putBack,
      ...serve,
      ...(backup
        ? [
            {
              command: () => commands.stopApp(env),
              when: {
                label: "when the backup is from before the first deploy",
                holds: (state: RollbackState) => state.targetId === null,
              },
            },
          ]
        : []),
    ],
  };
}

export async function rollback(
  request: RollbackRequest,
  credentials: Credentials,
  caller: Caller,
): Promise<OperationReport> {
  const { env } = request;
  validateCredentials(credentials, env);
  if ((request.backup ? 1 : 0) + (request.toPrevious ? 1 : 0) !== 1) {
    throw new DeployConfigError(
      `Give exactly one of --backup NAME or --to previous. Nothing was changed.`,
    );
  }
  if (request.backup !== undefined) validateBackupName(request.backup, env);

  const session = new Session(env, credentials, caller);
  // Only a rollback that replaces data takes a backup first (see the top of this file).
  const safety = request.backup ? commands.backupName(env.name, new Date()) : null;
  const info = lockInfo(
    caller,
    request.backup ? `rollback to ${request.backup}` : "rollback to previous",
    safety ?? undefined,
  );
  const state: RollbackState = {
    previousId: "none",
    targetId: null,
    migrationsStarted: false,
    switched: false,
    started: false,
  };
  try {
    if (request.dryRun) return dryRun(session, request, safety, info);
    await session.open();
    return await withLock(session, info, () => run(session, request, safety, state));
  } catch (error) {
    if (error instanceof DeployError) throw error;
    if (error instanceof DeployConfigError && !session.executor) throw error;
    if (error instanceof HostKeyError) throw session.fail(error.message);
    throw session.fail(`Rollback of ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

async function run(
  session: Session,
  request: RollbackRequest,
  safety: string | null,
  state: RollbackState,
): Promise<OperationReport> {
  const { env, backup } = request;
  const book = runbook(session, request, safety);

  // Preflight, the target and a verified backup of now: a failure here changes nothing.
  try {
    await runSteps(session, book.prepare, state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Rollback of ${env.name}:`, error);
    const step = failedStepOf(error, "preflight");
    throw session.fail(
      `Rollback of ${env.name} stopped at step ${step}: ${reason(error).replace(/([^.])$/, "$1.")} Nothing was changed on the server; the lock was released.`,
    );
  }

  // From here on, any failure puts back what served before (from the safety backup when the
  // data is being replaced).
  try {
    await runSteps(session, book.change, state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Rollback of ${env.name}:`, error, {
        ...(safety ? { backup: safety } : {}),
      });
    const failedStep = failedStepOf(error, "rollback");
    const { target, targetId } = state;
    await autoRollback(session, {
      what: `Rollback of ${env.name} to ${backup ?? `release ${targetId}`} failed at step ${failedStep}: ${reason(error)}.`,
      failedStep,
      ...(safety ? { backup: safety } : {}),
      id: targetId,
      previous: state.previous,
      previousId: state.previousId,
      migrationsStarted: state.migrationsStarted,
      switched: state.switched,
      started: state.started,
      ...(state.proof ? { proof: state.proof } : {}),
      action: "rollback",
      restoreFilesFromBackup: Boolean(backup),
      ...(target
        ? {
            images: { backendImage: target.backendImage, frontendImage: target.frontendImage },
            version: target.version,
          }
        : {}),
    });
  }

  await recordServing(session, successRecord(session, request, safety, state, now()));
  const { target, targetId } = state;
  const summary =
    `Rolled ${env.name} back to ${targetId ? `release ${targetId}${target?.version ? ` (version ${target.version})` : ""}` : "the state before the first deploy"}` +
    `${backup ? ` with the database and uploads of ${backup}` : ""}: ${targetId ? "healthy" : "app services stopped"}. ` +
    (safety
      ? `Safety backup taken before: ${safety}${state.proof ? ` (${state.proof})` : ""}.`
      : `The database and uploads were not touched (code only), so no backup was needed.`);
  session.log(summary);
  await notify(session, `:leftwards_arrow_with_hook: ${summary}`);
  return session.report(true, summary, {
    ...(safety ? { backup: safety } : {}),
    ...(targetId ? { release: targetId } : {}),
  });
}

/**
 * The safety backup's proof. A `--backup` rollback replaces the live database, so a safety
 * backup that does not restore stops it before anything changes. A server without room for a
 * copy (or a copy that does not start) gives no verdict and never blocks a recovery: the
 * backup is still verified (complete and readable).
 */
function readSafetyProof(session: Session, safety: string): Step<RollbackState>["read"] {
  return (result, state) => {
    const figures = /^restore_proof=ok (.*)$/m.exec(result.stdout)?.[1];
    if (result.exitCode === 0) {
      state.proof = figures ? `restore proven: ${figures}` : "nothing to prove: no database";
      session.log(`${safety}: ${state.proof}`);
      return;
    }
    if (result.exitCode !== commands.PROOF_NO_VERDICT_EXIT)
      throw unexpectedExit(result, "restore-proof");
    const why =
      /restore proof failed: (.*)$/m.exec(result.stderr)?.[1] ?? `exit ${result.exitCode}`;
    state.proof = `verified but not proven restorable: ${why}`;
    session.note(
      `The safety backup ${safety} is verified but not proven restorable: ${why}. ` +
        `A recovery is not blocked by a server that cannot hold a copy, so the rollback went on.`,
    );
  };
}

/** The exact plan, printed from the runbook; nothing connects. */
function dryRun(
  session: Session,
  request: RollbackRequest,
  safety: string | null,
  info: commands.LockInfo,
): OperationReport {
  const { env, backup } = request;
  const book = runbook(session, request, safety);
  const planState: RollbackState = {
    previousId: unknown.currentRelease,
    targetId: backup ? unknown.backupRelease : unknown.previousRelease,
    target: { version: unknown.restoredVersion } as ReleaseRecord,
    migrationsStarted: false,
    switched: false,
    started: false,
  };
  return dryRunReport(session, `rollback of ${env.name} to ${backup ?? "the previous release"}`, [
    { when: "", command: commands.acquireLock(env, info) },
    ...planned([...book.prepare, ...book.change], planState),
    { when: "", command: successRecord(session, request, safety, planState, unknown.now) },
    { when: "", command: commands.releaseLock(env, info.token) },
    ...recoveryPlan(env, safety ?? undefined, Boolean(backup)),
  ]);
}

/** The history entry and audit line of a rollback that ended healthy. */
function successRecord(
  session: Session,
  request: RollbackRequest,
  safety: string | null,
  state: RollbackState,
  time: string,
) {
  const { target, targetId } = state;
  const { caller } = session;
  const entry = session.entry({
    time,
    env: request.env.name,
    action: "rollback",
    result: "success",
    release: targetId,
    serving: targetId,
    ...(target ? { backendImage: target.backendImage, frontendImage: target.frontendImage } : {}),
    version: target?.version,
    commit: target?.commit,
    backup: request.backup ?? safety ?? undefined,
    ...(state.proof ? { proof: state.proof } : {}),
    holder: caller.holder,
    runUrl: caller.runUrl,
    message: safety
      ? `safety backup before the rollback: ${safety}`
      : "code only: the database and uploads were not touched",
  });
  return commands.recordRelease(request.env, entry);
}

/** The release that served before `currentId`, from the history's `serving` fields. */
export function previousServing(historyJsonl: string, currentId: string): string | null {
  const serving: string[] = [];
  for (const line of historyJsonl.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as HistoryEntry;
      if (entry.result === "success" && entry.serving && commands.RELEASE_ID.test(entry.serving))
        serving.push(entry.serving);
    } catch {
      // A damaged line is skipped; the others still tell the order.
    }
  }
  for (let i = serving.length - 1; i >= 0; i -= 1) {
    if (serving[i] !== currentId) return serving[i] ?? null;
  }
  return null;
}

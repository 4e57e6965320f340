// The deploy, as its runbook reads: take the lock; preflight while the images are pulled; the
// verified backup (and retention); the upload while the backup is restored into a
// throwaway copy and proven (same rows, same checksums as the live database at the dump); the
// release's pending migrations rehearsed on that copy. Nothing live changes until here, so a
// bad migration fails on the copy. Then migrate with the new image, switch the release files,
// start the new containers beside the serving ones, route the edge to them once healthy,
// health checks through the published ports, retire the old containers. Any failure from
// migrate to here puts the previous release (and, when migrations had started, the database)
// back. Record the release; with tls settings, then the certificate it lacks (whatever happens
// there is a note, never a rollback: the site keeps serving); unlock, notify.
// The runbook is one list of steps: the run executes it and --dry-run prints it, so the two
// cannot drift.
import { randomBytes } from "node:crypto";
import * as commands from "./commands/index.js";
import type { ReleaseRecord } from "./commands/index.js";
import {
  DeployConfigError,
  environmentFilePath,
  type EnvironmentSettings,
} from "./environments.js";
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
  reason,
  recordQuietly,
  recordServing,
  Session,
  type Caller,
  type Credentials,
  type OperationReport,
} from "./operation.js";
import {
  readCertificates,
  readProof,
  readPull,
  readRehearsal,
  type Findings,
} from "./deploy-findings.js";
import { lockInfo, withLock } from "./lease.js";
import { autoRollback, recoveryPlan } from "./recovery.js";
import {
  Beside,
  dryRunReport,
  failedStepOf,
  afterLeftovers,
  planned,
  retireStep,
  runSteps,
  unknown,
  type RunbookEntry,
} from "./runbook.js";
import { validateDeployRequest, validateReleaseFiles } from "./validate.js";
import {
  entryOf,
  imagesToDeploy,
  rehearsalOf,
  releaseOf,
  successRecord,
  type DeployRequest,
  type Release,
} from "./release-to-deploy.js";

export type { DeployRequest } from "./release-to-deploy.js";

/** What the steps learn on the way, and what an automatic rollback must undo. */
interface DeployState extends Findings {
  previousId: string;
  previous?: ReleaseRecord;
  migrationsStarted: boolean;
  switched: boolean;
  /** The new containers were started beside the serving ones (the edge may have moved to them). */
  started: boolean;
}

/**
 * The runbook. `prepare` changes nothing live; a failure in `change` rolls back by itself;
 * `finish` runs once the release is recorded, and its failures are notes.
 */
function runbook(
  session: Session,
  release: Release,
): {
  prepare: RunbookEntry<DeployState>[];
  change: RunbookEntry<DeployState>[];
  finish: RunbookEntry<DeployState>[];
} {
  const { env, id, backup, images } = release;
  return {
    prepare: [
      // Pulling changes nothing live, so it runs beside preflight; it also finds whether a
      // migration is pending (after waiting for an interrupted operation's leftovers, as
      // preflight does), which decides how the proof runs. The backup then has the server's
      // cores to itself and the request traffic: beside the pull its dump took half as long
      // again. Retention right after the backup, in the same round trip (it keeps the new one).
      {
        together: [
          afterLeftovers(session, {
            command: () => commands.preflight(env),
            read: ({ stdout }, state) => {
              const current = keyValues(stdout).get("current") ?? "none";
              if (current !== "none" && !commands.isReleaseId(current)) {
                throw new Error(
                  `the server's current release id ${commands.shown(current)} is malformed ` +
                    `(${commands.serverPaths(env).current}); a deploy does not guess what serves`,
                );
              }
              state.previousId = current;
              if (state.previousId === "none") return;
              state.previous = liveRecord(session, state.previousId, stdout);
            },
          }),
          {
            command: () =>
              commands.pullImages(env, images, release.login, {
                migrationsDir: env.migrationsDir,
                operation: session.id,
              }),
            read: readPull(env),
          },
        ],
      },
      {
        command: () =>
          commands.inOneTrip("backup", [
            commands.createBackup(env, backup),
            commands.pruneBackups(env, backup),
          ]),
      },
      {
        together: [
          {
            // The labels the caller gave, or else the pulled image's.
            command: (state) =>
              commands.uploadRelease(
                env,
                id,
                release.files,
                commands.releaseEnvText(env, images, state),
              ),
          },
          {
            // The copy is kept for the rehearsal unless the pull found nothing pending: the
            // copy holds the live database's migrations, so it would find none either.
            command: (state) =>
              commands.proveBackup(
                env,
                backup,
                session.id,
                env.rehearseMigrations && state.migrationsPending !== false
                  ? rehearsalOf(env, images)
                  : undefined,
              ),
            ownsExitCode: true,
            // Nothing pending: no data changes, so the proof need not hold up the switch.
            beside: {
              label:
                "when no migration is pending it goes on beside the switch and is read before record",
              holds: (state) => state.migrationsPending === false,
              until: "record",
            },
            read: readProof(session, env, backup),
          },
        ],
      },
      {
        command: () => commands.rehearseMigrations(env, session.id, rehearsalOf(env, images)),
        when: {
          label: "when the restored copy is up and a migration may be pending",
          holds: (state) => state.copyKept && state.migrationsPending !== false,
        },
        read: readRehearsal(session),
      },
    ],
    change: [
      {
        // Skipped when nothing is pending: the database stays untouched, so a failure later
        // needs no restore (and no downtime).
        command: () => commands.migrate(env, id, backup),
        when: {
          label: "when a migration is pending (or the rehearsal did not run)",
          holds: (state) => state.migrationsPending !== false,
        },
        marks: "migrationsStarted",
      },
      { command: () => commands.switchRelease(env, id), marks: "switched" },
      // The new containers start beside the serving ones; the edge moves to them once healthy.
      { command: () => commands.startRelease(env), marks: "started" },
      { command: () => commands.routeTraffic(env) },
      { command: (state) => commands.healthCheck(env, state.version) },
      // The new release serves and passed its checks: a retire that fails is a note.
      retireStep(session),
    ],
    // The release serves and is recorded: HTTPS follows it. Without a certificate the site
    // serves HTTP (or the certificate already there), so no failure here undoes the release.
    finish: env.tls
      ? [
          {
            command: () => commands.obtainCertificates(env),
            when: {
              label: "after the record; a failure is a note, never a rollback",
              holds: () => true,
            },
            read: readCertificates(session),
          },
        ]
      : [],
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
    const release = releaseOf(env, id, files, images, credentials);
    const start: DeployState = {
      previousId: "none",
      ...labels,
      copyKept: false,
      migrationsStarted: false,
      switched: false,
      started: false,
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
  const beside = new Beside<DeployState>();
  if (!env.rehearseMigrations) {
    state.rehearsal = "off for this environment (rehearseMigrations: false)";
    session.note(
      `Migration rehearsal is off for ${env.name} (rehearseMigrations: false in ` +
        `${environmentFilePath(env.name)}): pending migrations run on the live database unrehearsed.`,
    );
  }

  // Preflight, proven backup, pull and rehearsal: a failure here leaves production as it was.
  try {
    await runSteps(session, book.prepare, state, beside);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Deploy to ${env.name}:`, error);
    await beside.settle();
    const failedStep = failedStepOf(error, "preflight");
    if (state.copyKept) await session.run(commands.removeCopies(env), true).catch(() => undefined);
    const serving = state.previousId === "none" ? null : state.previousId;
    const why = stoppedBecause(failedStep, env, backup, reason(error));
    const entry = {
      ...entryOf(session, release),
      result: "failed" as const,
      serving,
      failedStep,
      message: why,
      ...(state.proof ? { proof: state.proof } : {}),
      ...(failedStep === "rehearsal" ? { rehearsal: "failed on the restored copy" } : {}),
    };
    await recordQuietly(session, session.entry(entry));
    await notify(
      session,
      `:x: deploy to ${env.name} stopped at ${failedStep}: ${why} Nothing live changed.`,
    );
    throw session.fail(
      `Deploy to ${env.name} stopped at step ${failedStep}: ${why} Nothing was changed on the server; the lock was released.`,
    );
  }

  // From here on, any failure puts the previous release back.
  try {
    await runSteps(session, book.change, state, beside);
    await beside.readBefore(["record"], state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    if (error instanceof ConnectionLostError)
      throw lostConnection(session, `Deploy to ${env.name}:`, error, { backup });
    // A restore proof still running beside ends first (nothing of this deploy runs meanwhile
    // the rollback), and its verdict goes into the record.
    await beside.readRest(state);
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

  await recordServing(session, successRecord(session, release, state, now()));
  await finish(session, book.finish, state);
  const checks = [state.proof, state.rehearsal && `migration rehearsal ${state.rehearsal}`];
  const summary = `Deployed release ${id}${state.version ? ` (version ${state.version})` : ""} to ${env.name}: healthy. Backup before it: ${backup} (${checks.filter(Boolean).join("; ")}).`;
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
      ...planned(book.finish, planState),
      { when: "", command: commands.releaseLock(env, info.token) },
      ...recoveryPlan(env, backup),
    ],
    { release: release.id },
  );
}

/**
 * The steps after the record. The release is live and healthy whatever happens here, so a
 * failure (a non-zero exit, a timeout, a lost connection) is a note in the report and Slack.
 */
async function finish(
  session: Session,
  steps: RunbookEntry<DeployState>[],
  state: DeployState,
): Promise<void> {
  try {
    await runSteps(session, steps, state);
  } catch (error) {
    if (error instanceof LockLostError) throw error;
    session.note(
      `Step ${failedStepOf(error, "certificates")} failed after the release was recorded: ${reason(error)}. ` +
        `The release is deployed and serving; this deploy may not have obtained the certificate or started its renewal. \`status --env ${session.env.name}\` shows the certificate; deploy again to retry.`,
    );
  }
}

/** Why the deploy stopped before anything live changed, in the words its step calls for. */
function stoppedBecause(
  step: string,
  env: EnvironmentSettings,
  backup: string,
  error: string,
): string {
  if (step === "rehearsal")
    return (
      `the release's migration failed on a restored copy of ${env.name}'s database ` +
      `(backup ${backup}), so it never ran on production: ${error}. Fix the migration and deploy again.`
    );
  if (step === "restore-proof")
    return `backup ${backup} did not prove restorable, so it does not count: ${error}.`;
  return `${error}.`;
}

// The automatic rollback: when a step fails after the verified backup, the previous release's
// files come back, the database is restored when migrations had started (or when a restore
// was under way), and the previous release must pass its health checks again.
import * as commands from "./commands/index.js";
import type { ReleaseImages, ReleaseRecord, RemoteCommand } from "./commands/index.js";
import type { EnvironmentSettings } from "./environments.js";
import { ConnectionLostError } from "./executor.js";
import {
  LockLostError,
  lostConnection,
  notify,
  now,
  reason,
  recordQuietly,
  type Session,
} from "./operation.js";
import { failedStepOf, unknown, type PlannedStep } from "./runbook.js";

/** What a dry-run plan shows the automatic rollback would run, and when (as autoRollback). */
export function recoveryPlan(
  env: EnvironmentSettings,
  backup: string | undefined,
  restoreFilesFromBackup = false,
): PlannedStep[] {
  const step = (when: string, command: RemoteCommand) => ({ when: `on failure ${when}`, command });
  const serving = "after either, when a release served before";
  if (restoreFilesFromBackup && backup) {
    const when = "after the restore started";
    return [
      step(when, commands.stopApp(env)),
      step(when, commands.restoreDatabase(env, backup)),
      step(when, commands.restoreBackupFiles(env, backup)),
      ...serveAgain(env, unknown.previousVersion).map((command) => step(serving, command)),
    ];
  }
  return [
    step("after the new containers started", commands.routeBack(env)),
    step("after the switch", commands.restoreSavedRelease(env)),
    // Without a backup (rollback --to previous) the database is never touched.
    ...(backup
      ? [
          step("after migrations started", commands.stopApp(env)),
          step("after migrations started", commands.restoreDatabase(env, backup)),
          step("after migrations started, when a release served before", commands.composeUp(env)),
        ]
      : []),
    step(serving, commands.healthCheck(env, unknown.previousVersion)),
  ];
}

/** The restored release served again the way a deploy serves one: beside, route, retire. */
function serveAgain(env: EnvironmentSettings, version: string | undefined): RemoteCommand[] {
  return [
    commands.startRelease(env),
    commands.routeTraffic(env),
    commands.healthCheck(env, version),
    commands.retireOld(env),
  ];
}

export interface RecoveryState {
  what: string;
  failedStep: string;
  /** The verified backup taken before; none for a code-only rollback (--to previous). */
  backup?: string;
  id: string | null;
  images?: ReleaseImages;
  version?: string;
  commit?: string;
  previous?: ReleaseRecord;
  previousId: string;
  migrationsStarted: boolean;
  switched: boolean;
  /** New containers were started beside the serving ones (the edge may have moved to them). */
  started?: boolean;
  action: "deploy" | "rollback";
  /** The backup's restore proof and the migration rehearsal, as the history records them. */
  proof?: string;
  rehearsal?: string;
  /** Restore uploads + release files from the backup too (rollback of a restore). */
  restoreFilesFromBackup?: boolean;
}

/**
 * Puts the server back to the state the backup recorded, records and reports it, then throws
 * the DeployError saying what serves now. Shared by deploy and rollback.
 */
export async function autoRollback(session: Session, state: RecoveryState): Promise<never> {
  const { env, caller } = session;
  const touched = state.switched || state.migrationsStarted;
  session.log(`AUTOMATIC ROLLBACK: ${state.what}`);
  const serving = state.previousId === "none" ? null : state.previousId;
  // Data is restored only from the backup taken before it changed (a code-only rollback has none
  // and changes no data, so it never needs one).
  const backup = () => {
    if (!state.backup) throw new Error("no backup was taken, so the data cannot be restored");
    return state.backup;
  };
  // The history entry of this outcome: what was tried, what serves, why.
  const entry = (result: "failed" | "rolled-back", servingNow: string | null, message: string) =>
    session.entry({
      time: now(),
      env: env.name,
      action: state.action,
      result,
      release: state.id,
      serving: servingNow,
      ...state.images,
      version: state.version,
      commit: state.commit,
      backup: state.backup,
      ...(state.proof ? { proof: state.proof } : {}),
      ...(state.rehearsal ? { rehearsal: state.rehearsal } : {}),
      holder: caller.holder,
      runUrl: caller.runUrl,
      failedStep: state.failedStep,
      message,
    });
  let stateNow: string;
  try {
    if (!touched) {
      stateNow = serving
        ? `The running release ${serving} was not touched and still serves.`
        : `Nothing was running and nothing was started.`;
    } else {
      if (state.restoreFilesFromBackup) {
        await session.run(commands.stopApp(env));
        await session.run(commands.restoreDatabase(env, backup()));
        await session.run(commands.restoreBackupFiles(env, backup()));
      } else {
        // The serving containers still run until retire: the edge goes back to them first.
        if (state.started) await session.run(commands.routeBack(env));
        if (state.switched) await session.run(commands.restoreSavedRelease(env));
        if (state.migrationsStarted) {
          await session.run(commands.stopApp(env));
          await session.run(commands.restoreDatabase(env, backup()));
        }
      }
      const version = state.previous?.version || undefined;
      if (serving === null) {
        await session.run(commands.stopApp(env));
        stateNow = `There was no earlier release: the app services are stopped, the database is as before the deploy${state.backup ? ` (backup ${state.backup})` : ""}.`;
      } else {
        if (state.restoreFilesFromBackup) {
          for (const command of serveAgain(env, version)) await session.run(command);
        } else {
          // After a restore the previous release's containers were stopped: they start again.
          if (state.migrationsStarted) await session.run(commands.composeUp(env));
          await session.run(commands.healthCheck(env, version));
        }
        stateNow =
          `Rolled back automatically: release ${serving}${state.previous?.version ? ` (version ${state.previous.version})` : ""} ` +
          `serves again and is healthy` +
          (state.migrationsStarted
            ? `; the database was restored from ${state.backup}`
            : `; the database was not touched`) +
          `.`;
      }
    }
  } catch (rollbackError) {
    if (rollbackError instanceof LockLostError) throw rollbackError;
    if (rollbackError instanceof ConnectionLostError) {
      throw lostConnection(session, `${state.what} Automatic rollback:`, rollbackError, {
        ...(state.backup ? { backup: state.backup } : {}),
      });
    }
    const step = failedStepOf(rollbackError, "rollback");
    await recordQuietly(session, entry("failed", null, `rollback failed at ${step}`));
    await notify(
      session,
      `:rotating_light: ${env.name}: ${state.what} The automatic rollback failed at ${step}. Manual action needed.`,
    );
    throw session.fail(
      `${state.what} The automatic rollback ALSO failed at step ${step}: ${reason(rollbackError)}. ` +
        `The server is in an unknown state and the deploy lock stays held. Recover with ` +
        `\`rollback --env ${env.name} --backup ${state.backup ?? "NAME"}\` after \`unlock --env ${env.name}\`` +
        (state.backup
          ? `.`
          : ` (the database was not touched: NAME from \`backups --env ${env.name}\`).`),
      state.backup ? { backup: state.backup } : {},
      true,
    );
  }
  await recordQuietly(session, entry("rolled-back", serving, state.what));
  await notify(session, `:warning: ${state.what} ${stateNow}`);
  // withLock releases the lock when this error leaves the operation.
  throw session.fail(`${state.what} ${stateNow} The lock was released.`, {
    ...(state.backup ? { backup: state.backup } : {}),
    ...(state.id ? { release: state.id } : {}),
  });
}

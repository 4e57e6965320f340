// Rollback: to a named backup (database, uploads and the release it belonged to) or to the
// release that served before the current one. Like a deploy, it holds the lock and takes a
// verified backup of the current state first, so a rollback can itself be undone.
import * as commands from "./commands/index.js";
import type { HistoryEntry, ReleaseRecord } from "./commands/index.js";
import { DeployConfigError, type EnvironmentSettings } from "./environments.js";
import { ConnectionLostError, RemoteCommandError } from "./executor.js";
import { HostKeyError } from "./known-hosts.js";
import {
  DeployError,
  keyValues,
  lockInfo,
  lostConnection,
  notify,
  now,
  parseRecord,
  reason,
  renderPlan,
  Session,
  withLock,
  type Caller,
  type Credentials,
  type OperationReport,
} from "./operation.js";
import { autoRollback } from "./recovery.js";
import { validateBackupName, validateCredentials } from "./validate.js";

export interface RollbackRequest {
  env: EnvironmentSettings;
  /** A backup of this environment to restore (database, uploads, release files). */
  backup?: string;
  /** Put back the release that served before the current one. */
  toPrevious?: boolean;
  dryRun?: boolean;
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
  const safety = commands.backupName(env.name, new Date());
  const info = lockInfo(
    caller,
    request.backup ? `rollback to ${request.backup}` : "rollback to previous",
  );
  try {
    if (request.dryRun) {
      const planned = [
        { when: "", command: commands.acquireLock(env, info) },
        { when: "", command: commands.preflight(env) },
        ...(request.backup
          ? [{ when: "", command: commands.verifyBackup(env, request.backup) }]
          : [{ when: "", command: commands.readHistory(env) }]),
        { when: "", command: commands.createBackup(env, safety) },
        { when: "", command: commands.pruneBackups(env, safety) },
        ...(request.backup
          ? [
              { when: "", command: commands.stopApp(env) },
              { when: "", command: commands.restoreDatabase(env, request.backup) },
              { when: "", command: commands.restoreBackupFiles(env, request.backup) },
            ]
          : [{ when: "", command: commands.switchRelease(env, "<previous release id>") }]),
        { when: "", command: commands.composeUp(env) },
        { when: "", command: commands.healthCheck(env, "<restored release's version>") },
        { when: "", command: commands.releaseLock(env, info.token) },
      ];
      const plan = renderPlan(planned);
      session.log(`DRY RUN: rollback of ${env.name}; nothing will be changed. Plan:`);
      for (const line of plan.split("\n")) session.log(line);
      return session.report(
        true,
        `dry run: ${planned.length} steps planned for ${env.name}, nothing changed`,
        { plan },
      );
    }

    await session.open();
    return await withLock(session, info, async () => {
      let currentId: string;
      let current: ReleaseRecord | undefined;
      let target: ReleaseRecord | undefined;
      let targetId: string | null = null;
      try {
        const checks = keyValues((await session.run(commands.preflight(env))).stdout);
        currentId = checks.get("current") ?? "none";
        if (currentId !== "none" && commands.RELEASE_ID.test(currentId)) {
          const read = await session.run(commands.readReleaseRecord(env, currentId), true);
          if (read.exitCode === 0) current = parseRecord(read.stdout, `release ${currentId}`);
        }
        if (request.backup) {
          const verified = await session.run(commands.verifyBackup(env, request.backup), true);
          if (verified.exitCode === 3)
            throw new DeployConfigError(
              `Backup ${request.backup} does not exist in ${env.backupsDir} (see \`backups --env ${env.name}\`).`,
            );
          if (verified.exitCode !== 0)
            throw new RemoteCommandError(
              "verify-backup",
              verified.exitCode,
              verified.stdout,
              verified.stderr,
            );
          const json = keyValues(verified.stdout).get("release_json");
          if (json) {
            target = parseRecord(json, `the release kept in ${request.backup}`);
            targetId = target.id;
          }
        } else {
          const history = (await session.run(commands.readHistory(env))).stdout;
          targetId = previousServing(history, currentId);
          if (!targetId)
            throw new DeployConfigError(
              `${env.name} has no previous release to go back to (see \`releases --env ${env.name}\`).`,
            );
          target = parseRecord(
            (await session.run(commands.readReleaseRecord(env, targetId))).stdout,
            `release ${targetId}`,
          );
        }
        await session.run(commands.createBackup(env, safety));
        await session.run(commands.pruneBackups(env, safety));
      } catch (error) {
        if (error instanceof ConnectionLostError)
          throw lostConnection(session, `Rollback of ${env.name}:`, error);
        const step = error instanceof RemoteCommandError ? error.step : "preflight";
        throw session.fail(
          `Rollback of ${env.name} stopped at step ${step}: ${reason(error)} Nothing was changed on the server; the lock was released.`,
        );
      }

      let dbRestored = false;
      let switched = false;
      try {
        if (request.backup) {
          await session.run(commands.stopApp(env));
          dbRestored = true;
          await session.run(commands.restoreDatabase(env, request.backup));
          switched = true;
          await session.run(commands.restoreBackupFiles(env, request.backup));
        } else {
          switched = true;
          await session.run(commands.switchRelease(env, targetId!));
        }
        if (targetId) {
          await session.run(commands.composeUp(env));
          await session.run(commands.healthCheck(env, target?.version || undefined));
        } else {
          await session.run(commands.stopApp(env));
        }
      } catch (error) {
        if (error instanceof ConnectionLostError)
          throw lostConnection(session, `Rollback of ${env.name}:`, error, { backup: safety });
        const failedStep = error instanceof RemoteCommandError ? error.step : "rollback";
        await autoRollback(session, {
          what: `Rollback of ${env.name} to ${request.backup ?? `release ${targetId}`} failed at step ${failedStep}: ${reason(error)}.`,
          failedStep,
          backup: safety,
          id: targetId,
          previous: current,
          previousId: currentId,
          migrationsStarted: dbRestored,
          switched,
          action: "rollback",
          restoreFilesFromBackup: Boolean(request.backup),
          ...(target
            ? {
                images: { backendImage: target.backendImage, frontendImage: target.frontendImage },
                version: target.version,
              }
            : {}),
        });
      }

      const images = target
        ? { backendImage: target.backendImage, frontendImage: target.frontendImage }
        : {};
      await session.run(
        commands.recordRelease(
          env,
          session.entry({
            time: now(),
            env: env.name,
            action: "rollback",
            result: "success",
            release: targetId,
            serving: targetId,
            ...images,
            version: target?.version,
            commit: target?.commit,
            backup: request.backup ?? safety,
            holder: caller.holder,
            runUrl: caller.runUrl,
            message: `safety backup before the rollback: ${safety}`,
          }),
        ),
      );
      const summary =
        `Rolled ${env.name} back to ${targetId ? `release ${targetId}${target?.version ? ` (version ${target.version})` : ""}` : "the state before the first deploy"}` +
        `${request.backup ? ` with the database and uploads of ${request.backup}` : ""}: ${targetId ? "healthy" : "app services stopped"}. ` +
        `Safety backup taken before: ${safety}.`;
      session.log(summary);
      await notify(session, `:leftwards_arrow_with_hook: ${summary}`);
      return session.report(true, summary, {
        backup: safety,
        ...(targetId ? { release: targetId } : {}),
      });
    });
  } catch (error) {
    if (error instanceof DeployError) throw error;
    if (error instanceof DeployConfigError && !session.executor) throw error;
    if (error instanceof HostKeyError) throw session.fail(error.message);
    throw session.fail(`Rollback of ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
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

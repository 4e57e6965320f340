// An operation under the deploy lock (a lease on this SSH connection, see commands/lock.ts):
// taking it and saying who held it before or what an interrupted operation left behind; the
// prelude that makes every later command check the lock is still ours; the release; and what
// it means when the lock was taken away mid-operation.
import { randomBytes } from "node:crypto";
import * as commands from "./commands/index.js";
import { ConnectionLostError, RemoteCommandError } from "./executor.js";
import {
  DeployError,
  keyValues,
  LockLostError,
  type Caller,
  type OperationReport,
  type Session,
} from "./operation.js";

export function lockInfo(caller: Caller, operation: string, backup?: string): commands.LockInfo {
  return {
    ...(backup ? { backup } : {}),
    holder: caller.holder,
    commit: caller.commit ?? "-",
    runUrl: caller.runUrl ?? "-",
    token: randomBytes(12).toString("hex"),
    operation,
  };
}

async function takeLock(session: Session, info: commands.LockInfo): Promise<void> {
  const result = await session.run(commands.acquireLock(session.env, info), true);
  if (result.exitCode === commands.LOCK_HELD_EXIT) {
    const held = keyValues(result.stdout);
    const field = (key: string) => commands.fieldText(held.get(key)) ?? "?";
    const env = session.env.name;
    const alive = held.get("holder_connection") === "alive";
    throw session.fail(
      `The deploy lock of ${env} is held by ${field("holder")} (operation ${field("operation")}, ` +
        `commit ${field("commit")}, run ${field("run_url")}, since ${field("since")}); ` +
        (alive
          ? `its SSH connection is alive: that operation is running. Wait for it. Nothing was changed.`
          : `its SSH connection is ${held.get("holder_connection") === "gone" ? "gone" : "not known"}: that ` +
            `operation ended without releasing it. Check \`status --env ${env}\`, then run ` +
            `\`unlock --env ${env}\`. Nothing was changed.`),
    );
  }
  if (result.exitCode !== 0) {
    throw new RemoteCommandError("lock", result.exitCode, result.stdout, result.stderr);
  }
  const before = keyValues(result.stdout);
  const interrupted = before.get("interrupted_operation");
  if (interrupted) {
    // One step, or the steps it ran together (comma-separated).
    const steps = ((before.get("interrupted_step") ?? "").split(" ")[0] || "lock").split(",");
    const where =
      steps.length > 1 ? `steps ${steps.join(" and ")} (run together)` : `step ${steps[0]}`;
    session.note(
      `The operation before this one (${interrupted}, by ${before.get("interrupted_holder") ?? "?"}, ` +
        `since ${before.get("interrupted_since") ?? "?"}) never ended: it was interrupted in ${where}` +
        `${interruptedChanges(steps, before.get("interrupted_backup"))}`,
    );
  }
}

/** Steps after which an interrupted operation may have changed the database or the live files. */
const CHANGING_STEPS = new Set([
  "migrate",
  "switch",
  "start",
  "route",
  "retire",
  "route-back",
  // A deploy's last step before its record (after the switch) removes the proof's copy.
  "remove-copy",
  "up",
  "health",
  "record",
  "unlock",
  "stop-app",
  "restore-db",
  "restore-files",
  "restore-release",
]);

/** What an operation interrupted in `steps` may have left changed, and where the state before it is. */
function interruptedChanges(steps: string[], backup: string | undefined): string {
  if (!steps.some((step) => CHANGING_STEPS.has(step))) return `, before anything live changed.`;
  return (
    `, after its backup: the database or the live release may be partly changed. ` +
    `${backup ? `Its backup ${backup}` : "The backup it took first"} holds the state before it ` +
    `(\`rollback --backup\` restores it); this operation took its own backup of the state as found.`
  );
}

/**
 * Runs `body` holding the environment's deploy lock and releases it afterwards, also when the
 * body failed, except when the server's state is unknown (a lost connection, a failed automatic
 * rollback): then the lock stays held, so nobody deploys over it before a person has looked.
 */
export async function withLock(
  session: Session,
  info: commands.LockInfo,
  body: () => Promise<OperationReport>,
): Promise<OperationReport> {
  await takeLock(session, info);
  // From here on every command first checks the lock is still ours, and notes its step.
  const executor = session.executor;
  if (executor)
    executor.prelude = (step, seq) => commands.underLock(session.env, info.token, step, seq);
  const release = () => {
    if (executor) executor.prelude = undefined;
    return session.run(commands.releaseLock(session.env, info.token), true);
  };
  let report: OperationReport;
  try {
    report = await body();
  } catch (error) {
    if (error instanceof LockLostError) throw lockLost(session, error);
    const unknownState =
      error instanceof ConnectionLostError || (error instanceof DeployError && error.keepsLock);
    if (unknownState) throw error;
    await release();
    if (!(error instanceof DeployError)) throw error;
    throw new DeployError(error.message, session.refreshed(error.report), error.keepsLock);
  }
  const released = await release();
  if (released.exitCode !== 0)
    throw new RemoteCommandError("unlock", released.exitCode, released.stdout, released.stderr);
  return session.refreshed(report);
}

/** The lock was taken away mid-operation: what that means and what to do; it stays as it is. */
export function lockLost(session: Session, error: LockLostError): DeployError {
  const env = session.env.name;
  return session.fail(
    `${error.message[0]!.toUpperCase()}${error.message.slice(1)}. Nothing after that step ran, ` +
      `no automatic rollback either (another operation may be running). Check \`status --env ${env}\` ` +
      `and \`releases --env ${env}\`; this operation's backup (if it got that far) is listed by \`backups --env ${env}\`.`,
    {},
    true,
  );
}

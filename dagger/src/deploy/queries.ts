// Operations that read the server (backups, releases, status, logs, a job summary's data) or
// only remove the lock: one connection, one or two commands, no lock taken.
import * as commands from "./commands/index.js";
import type { HistoryEntry, RemoteCommand } from "./commands/index.js";
import { DeployConfigError, type EnvironmentSettings } from "./environments.js";
import { HostKeyError } from "./known-hosts.js";
import { RemoteCommandError } from "./executor.js";
import {
  DeployError,
  keyValues,
  reason,
  Session,
  type Caller,
  type Credentials,
  type OperationReport,
} from "./operation.js";
import { validateCredentials } from "./validate.js";

async function simple(
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
  commandOf: (session: Session) => RemoteCommand,
  summarize: (stdout: string) => string,
): Promise<OperationReport> {
  validateCredentials(credentials, env);
  const session = new Session(env, credentials, caller);
  const command = commandOf(session);
  try {
    await session.open();
    const result = await session.run(command);
    return session.report(true, summarize(result.stdout));
  } catch (error) {
    if (error instanceof HostKeyError) throw session.fail(error.message);
    throw session.fail(`${command.step} of ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

export function listBackups(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(
    env,
    credentials,
    caller,
    () => commands.listBackups(env),
    (out) => out.trim() || `no backups of ${env.name}`,
  );
}

export function listReleases(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(
    env,
    credentials,
    caller,
    () => commands.readHistory(env),
    (out) => {
      const lines = out.split("\n").filter((l) => l.trim() !== "");
      if (lines.length === 0) return `no releases recorded for ${env.name}`;
      return lines
        .map((line) => {
          try {
            const e = JSON.parse(line) as HistoryEntry;
            return `${e.time} ${e.action} ${e.result} release=${e.release ?? "-"} serving=${e.serving ?? "-"} version=${e.version ?? "-"} backend=${e.backendImage ?? "-"} frontend=${e.frontendImage ?? "-"} backup=${e.backup ?? "-"}${e.failedStep ? ` failed_step=${e.failedStep}` : ""}`;
          } catch {
            return `(unreadable line) ${line}`;
          }
        })
        .join("\n");
    },
  );
}

export function status(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(
    env,
    credentials,
    caller,
    (session) => commands.statusReport(env, session.id),
    (out) => out.trim(),
  );
}

/**
 * Removes the deploy lock when its holder's SSH connection is gone; a live holder's lock only
 * with `force` (the live operation then stops before its next step).
 */
export async function unlock(
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
  force = false,
) {
  validateCredentials(credentials, env);
  const session = new Session(env, credentials, caller);
  try {
    await session.open();
    const result = await session.run(commands.forceUnlock(env, caller.holder, force), true);
    if (result.exitCode === commands.LOCK_LIVE_EXIT) {
      const held = keyValues(result.stdout);
      const field = (key: string) => commands.fieldText(held.get(key)) ?? "?";
      throw session.fail(
        `The deploy lock of ${env.name} belongs to a running operation: ${field("operation")} by ` +
          `${field("holder")} (run ${field("run_url")}, since ${field("since")}); its SSH connection is ` +
          `${held.get("holder_connection") ?? "?"}. The lock was left as is. Wait for it to end. Only if it ` +
          `hangs, run \`unlock --env ${env.name} --force\`: the operation then stops before its next step.`,
      );
    }
    if (result.exitCode !== 0)
      throw new RemoteCommandError("unlock", result.exitCode, result.stdout, result.stderr);
    return session.report(true, result.stdout.trim());
  } catch (error) {
    if (error instanceof DeployError) throw error;
    if (error instanceof HostKeyError) throw session.fail(error.message);
    throw session.fail(`unlock of ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

/** The history and the status of an environment, on one connection: what a job summary shows. */
export async function historyAndStatus(
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
): Promise<{ history: string; status: string }> {
  validateCredentials(credentials, env);
  const session = new Session(env, credentials, caller);
  try {
    await session.open();
    const history = (await session.run(commands.readHistory(env))).stdout;
    const status = (await session.run(commands.statusReport(env, session.id))).stdout.trim();
    return { history, status };
  } catch (error) {
    if (error instanceof HostKeyError) throw session.fail(error.message);
    throw session.fail(`reading ${env.name}'s history and status failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

/** The app's recent container logs (redacted on the server, then by the operation's redactor). */
export function recentLogs(
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
  args: { lines: number; service?: string },
) {
  if (!Number.isInteger(args.lines) || args.lines < 1 || args.lines > 10_000) {
    throw new DeployConfigError(
      `--lines must be a whole number from 1 to 10000 (got ${args.lines}). Nothing was changed.`,
    );
  }
  if (args.service && !(commands.LOG_SERVICES as readonly string[]).includes(args.service)) {
    throw new DeployConfigError(
      `--service must be one of ${commands.LOG_SERVICES.join(", ")} (got "${args.service}"). Nothing was changed.`,
    );
  }
  return simple(
    env,
    credentials,
    caller,
    () => commands.appLogs(env, args.lines, args.service || undefined),
    (out) => out.trimEnd() || `no logs in ${env.name}`,
  );
}

// What every operation shares: who runs it and with which secrets, its report and error, the
// session (one SSH connection, the redacted log, the steps run so far), the lock and the
// records written along the way.
import { randomBytes } from "node:crypto";
import * as commands from "./commands/index.js";
import type { HistoryEntry, ReleaseRecord, RemoteCommand } from "./commands/index.js";
import type { EnvironmentSettings } from "./environments.js";
import {
  ConnectionLostError,
  RemoteCommandError,
  SshExecutor,
  type LogLine,
  type StepRecord,
} from "./executor.js";
import { Redactor } from "./redact.js";
import { postToSlack } from "../lib/slack.js";

export interface Credentials {
  /** OpenSSH or PEM private key text (the deploy key): ed25519, ECDSA or RSA. */
  privateKey: string;
  /** The key's passphrase, when it is encrypted. */
  passphrase?: string;
  /** Given to `docker login --password-stdin` on the server. */
  registryPassword?: string;
  registryUsername?: string;
  slackWebhook?: string;
}

/** Who runs the operation; recorded in the lock, the history and the audit log. */
export interface Caller {
  holder: string;
  commit?: string;
  runUrl?: string;
  log?: LogLine;
}

export interface OperationReport {
  ok: boolean;
  summary: string;
  env: string;
  release?: string;
  backup?: string;
  steps: StepRecord[];
  roundTrips: number;
  durationMs: number;
  /** Every line the operation printed (already redacted). */
  log: string[];
  /** Dry runs: the plan that would run. */
  plan?: string;
}

/** An operation failed; `report` holds what ran. The message says what the server runs now. */
export class DeployError extends Error {
  override name = "DeployError";
  constructor(
    message: string,
    readonly report: OperationReport,
    /** The server's state is unknown (connection lost, rollback failed): the lock stays held. */
    readonly keepsLock = false,
  ) {
    super(message);
  }
}

export class Session {
  /** This operation's id: its processes on the server carry it (QGO_OPERATION). */
  readonly id = randomBytes(6).toString("hex");
  readonly lines: string[] = [];
  /** What the operation found and the reader must know (e.g. an interrupted one before it). */
  readonly notes: string[] = [];
  readonly redactor: Redactor;
  readonly started = Date.now();
  executor: SshExecutor | undefined;
  private readonly extraSteps: StepRecord[] = [];
  private extraRoundTrips = 0;

  constructor(
    readonly env: EnvironmentSettings,
    readonly credentials: Credentials,
    readonly caller: Caller,
  ) {
    this.redactor = new Redactor([
      credentials.registryPassword,
      credentials.slackWebhook,
      credentials.passphrase,
      // Each line of the key, so no fragment of it can appear either.
      ...credentials.privateKey.split("\n").filter((line) => !line.startsWith("-----")),
    ]);
  }

  log = (line: string): void => {
    const clean = this.redactor.redact(line);
    this.lines.push(clean);
    this.caller.log?.(clean);
  };

  async connect(env: EnvironmentSettings = this.env): Promise<SshExecutor> {
    return SshExecutor.connect(
      {
        host: env.host,
        port: env.sshPort,
        username: env.sshUser,
        privateKey: this.credentials.privateKey,
        knownHosts: env.knownHosts.join("\n"),
        ...(this.credentials.passphrase ? { passphrase: this.credentials.passphrase } : {}),
      },
      { log: this.log, redactor: this.redactor, marks: { env: env.name, operation: this.id } },
    );
  }

  /** Adds a note: logged now, appended to the summary, the error and the Slack message. */
  note(text: string): void {
    this.notes.push(text);
    this.log(`NOTE: ${text}`);
  }

  /** The text with the operation's notes after it (summaries, errors, Slack). */
  withNotes(text: string): string {
    return this.notes.length ? `${text} NOTE: ${this.notes.join(" ")}` : text;
  }

  async open(): Promise<SshExecutor> {
    this.executor = await this.connect();
    return this.executor;
  }

  run(command: RemoteCommand, allowFailure = false) {
    if (!this.executor) throw new Error("not connected");
    return this.executor.run(command, allowFailure);
  }

  /** Adds the steps of a second connection (promotion source) to the report. */
  absorb(other: SshExecutor): void {
    this.extraSteps.push(...other.steps);
    this.extraRoundTrips += other.roundTrips;
  }

  report(ok: boolean, summary: string, extra: Partial<OperationReport> = {}): OperationReport {
    return {
      ok,
      summary: this.redactor.redact(this.withNotes(summary)),
      env: this.env.name,
      steps: [...this.extraSteps, ...(this.executor?.steps ?? [])],
      roundTrips: this.extraRoundTrips + (this.executor?.roundTrips ?? 0),
      durationMs: Date.now() - this.started,
      log: this.lines,
      ...extra,
    };
  }

  /** The report again, with the steps run since it was made (the lock's release comes last). */
  refreshed(report: OperationReport): OperationReport {
    const now = this.report(report.ok, "");
    return { ...report, steps: now.steps, roundTrips: now.roundTrips, durationMs: now.durationMs };
  }

  /** A history entry with the steps run so far, so the record says how far the operation got. */
  entry(fields: Omit<HistoryEntry, "steps">): HistoryEntry {
    const steps = [...this.extraSteps, ...(this.executor?.steps ?? [])];
    return {
      ...fields,
      steps: steps.map((s) => ({
        step: s.step,
        seconds: Math.round(s.durationMs / 100) / 10,
        ok: s.ok,
      })),
    };
  }

  fail(message: string, extra: Partial<OperationReport> = {}, keepsLock = false): DeployError {
    const clean = this.redactor.redact(message);
    this.log(`FAILED: ${clean}`);
    const report = this.report(false, clean, extra);
    return new DeployError(report.summary, report, keepsLock);
  }

  close(): void {
    this.executor?.close();
  }
}

export function keyValues(output: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of output.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) values.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return values;
}

export function reason(error: unknown): string {
  if (error instanceof RemoteCommandError || error instanceof ConnectionLostError)
    return error.message;
  return error instanceof Error ? error.message : String(error);
}

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
    throw session.fail(
      `The deploy lock of ${session.env.name} is held by ${held.get("holder") ?? "unknown"} ` +
        `(operation ${held.get("operation") ?? "?"}, commit ${held.get("commit") ?? "?"}, ` +
        `run ${held.get("run_url") ?? "?"}, since ${held.get("since") ?? "?"}). Another operation is ` +
        `running or ended without releasing it. Wait for it; if that run is gone, check ` +
        `\`status --env ${session.env.name}\` and run \`unlock --env ${session.env.name}\`. Nothing was changed.`,
    );
  }
  if (result.exitCode !== 0) {
    throw new RemoteCommandError("lock", result.exitCode, result.stdout, result.stderr);
  }
  const before = keyValues(result.stdout);
  const interrupted = before.get("interrupted_operation");
  if (interrupted) {
    const step = (before.get("interrupted_step") ?? "").split(" ")[0] || "lock";
    session.note(
      `The operation before this one (${interrupted}, by ${before.get("interrupted_holder") ?? "?"}, ` +
        `since ${before.get("interrupted_since") ?? "?"}) never ended: it was interrupted in step ${step}` +
        `${interruptedChanges(step, before.get("interrupted_backup"))}`,
    );
  }
}

/** Steps after which an interrupted operation may have changed the database or the live files. */
const CHANGING_STEPS = new Set([
  "migrate",
  "switch",
  "up",
  "health",
  "record",
  "unlock",
  "stop-app",
  "restore-db",
  "restore-files",
  "restore-release",
]);

/** What an operation interrupted in `step` may have left changed, and where the state before it is. */
function interruptedChanges(step: string, backup: string | undefined): string {
  if (!CHANGING_STEPS.has(step)) return `, before anything live changed.`;
  return (
    `, after its backup: the database or the live release may be partly changed. ` +
    `${backup ? `Its backup ${backup}` : "The backup it took first"} holds the state before it ` +
    `(\`rollback --backup\` restores it); this operation took its own backup of the state as found.`
  );
}

/** The connection broke mid-step: the server may still run it, so the lock stays held. */
export function lostConnection(
  session: Session,
  what: string,
  error: ConnectionLostError,
  extra: Partial<OperationReport> = {},
): DeployError {
  const env = session.env.name;
  return session.fail(
    `${what} ${error.message}. The server may still be running that step; its state is ` +
      `unknown and the deploy lock of ${env} stays held. Check \`status --env ${env}\`; when ` +
      `nothing runs any more, \`unlock --env ${env}\` and run it again (or restore with ` +
      `\`rollback --env ${env} --backup NAME\`).`,
    extra,
    true,
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
  // From here on every command notes its step in the operation file; the release removes it.
  if (session.executor) session.executor.journal = commands.serverPaths(session.env).operation;
  let report: OperationReport;
  try {
    report = await body();
  } catch (error) {
    const unknownState =
      error instanceof ConnectionLostError || (error instanceof DeployError && error.keepsLock);
    if (unknownState) throw error;
    await session.run(commands.releaseLock(session.env, info.token), true);
    if (!(error instanceof DeployError)) throw error;
    throw new DeployError(error.message, session.refreshed(error.report), error.keepsLock);
  }
  await session.run(commands.releaseLock(session.env, info.token));
  return session.refreshed(report);
}

/** The outcome to Slack, when a webhook is set; a failed post is logged and never fails the operation. */
export async function notify(session: Session, text: string): Promise<void> {
  if (!session.credentials.slackWebhook) return;
  const outcome = await postToSlack(
    session.credentials.slackWebhook,
    session.withNotes(text),
    10_000,
  );
  session.log(
    outcome.ok ? "Slack notified" : `warning: Slack notification failed: ${outcome.reason}`,
  );
}

export function now(): string {
  return new Date().toISOString();
}

/**
 * The record of release `id`, which serves now. An interrupted deploy can leave a release live
 * without a record (it died between its switch and its record): that is noted, not fatal, so
 * the next operation can still recover the environment.
 */
export async function liveRecord(session: Session, id: string): Promise<ReleaseRecord | undefined> {
  const read = await session.run(commands.readReleaseRecord(session.env, id), true);
  if (read.exitCode === 0) return parseRecord(read.stdout, `release ${id}`);
  session.note(
    `The live release ${id} has no release record: a deploy switched to it and was interrupted before recording it.`,
  );
  return undefined;
}

export function parseRecord(text: string, what: string): ReleaseRecord {
  try {
    const record = JSON.parse(text) as ReleaseRecord;
    if (!commands.RELEASE_ID.test(record.id) || !record.backendImage || !record.frontendImage)
      throw new Error("fields missing");
    return record;
  } catch (error) {
    throw new Error(`${what} is not a valid release record: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export async function recordQuietly(
  session: Session,
  entry: HistoryEntry,
  release?: ReleaseRecord,
): Promise<void> {
  try {
    await session.run(commands.recordRelease(session.env, entry, release));
  } catch (error) {
    session.log(`warning: could not record the history: ${reason(error)}`);
  }
}

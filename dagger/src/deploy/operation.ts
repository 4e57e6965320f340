// What every operation shares: who runs it and with which secrets, its report and error, the
// session (one SSH connection, the redacted log, the steps run so far) and the records written
// along the way. The lock around an operation is lease.ts.
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
import { printable } from "../lib/printable.js";
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

/**
 * The lock stopped holding this operation's token (someone ran `unlock --force`): the step did
 * not run, and neither may anything after it, an automatic rollback included.
 */
export class LockLostError extends Error {
  override name = "LockLostError";
  constructor(
    readonly env: string,
    readonly step: string,
  ) {
    super(
      `the deploy lock of ${env} was removed while this operation ran (unlock --force) or is ` +
        `held by another operation now: stopped before step ${step}`,
    );
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
    // Lines can hold a server's words (errors, records): masked, then made inert for the log.
    const clean = printable(this.redactor.redact(line));
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

  async run(command: RemoteCommand, allowFailure = false) {
    if (!this.executor) throw new Error("not connected");
    let result;
    try {
      result = await this.executor.run(command, allowFailure);
    } catch (error) {
      if (error instanceof RemoteCommandError && error.exitCode === commands.LOCK_LOST_EXIT)
        throw new LockLostError(this.env.name, command.step);
      throw error;
    }
    if (result.exitCode === commands.LOCK_LOST_EXIT && this.executor.prelude)
      throw new LockLostError(this.env.name, command.step);
    return result;
  }

  /** Adds the steps of a second connection (promotion source) to the report. */
  absorb(other: SshExecutor): void {
    this.extraSteps.push(...other.steps);
    this.extraRoundTrips += other.roundTrips;
  }

  report(ok: boolean, summary: string, extra: Partial<OperationReport> = {}): OperationReport {
    return {
      ok,
      summary: printable(this.redactor.redact(this.withNotes(summary))),
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
 * The record of release `id`, which serves now, as preflight printed it. An interrupted deploy can leave a release live
 * without a record (it died between its switch and its record): that is noted, not fatal, so
 * the next operation can still recover the environment.
 */
export function liveRecord(
  session: Session,
  id: string,
  preflightOutput: string,
): ReleaseRecord | undefined {
  // Preflight printed it (base64) when the file exists.
  const encoded = keyValues(preflightOutput).get("current_record");
  if (encoded) return parseRecord(Buffer.from(encoded, "base64").toString("utf8"), `release ${id}`);
  session.note(
    `The live release ${id} has no release record: a deploy switched to it and was interrupted before recording it.`,
  );
  return undefined;
}

export function parseRecord(text: string, what: string): ReleaseRecord {
  try {
    return commands.releaseRecordFrom(JSON.parse(text));
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

/**
 * The record of an operation whose release already serves and passed its checks. A record
 * that fails on the server (a full disk, a killed step) is a note, not a failed operation:
 * nothing is rolled back for a line of history, and saying "failed" of a release that serves
 * would send people to undo a good deploy. A lost connection or lock is rethrown.
 */
export async function recordServing(session: Session, command: RemoteCommand): Promise<void> {
  try {
    await session.run(command);
  } catch (error) {
    if (!(error instanceof RemoteCommandError)) throw error;
    session.note(
      `Step record failed (${reason(error)}): the release history and audit log may lack this operation, so \`releases\` may not list it. ` +
        "The release serves and passed its checks; nothing was rolled back.",
    );
  }
}

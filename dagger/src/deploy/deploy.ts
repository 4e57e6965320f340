// The orchestration: deploy() reads top to bottom like the runbook. Every operation takes
// the lock, makes a verified backup before anything destructive, and on a failure after
// the backup puts the previous release (and, when migrations ran, the database) back.
import { randomBytes } from "node:crypto";
import * as commands from "./commands.js";
import type {
  HistoryEntry,
  ReleaseFile,
  ReleaseImages,
  ReleaseRecord,
  RemoteCommand,
} from "./commands.js";
import { DeployConfigError, type EnvironmentSettings } from "./environments.js";
import {
  ConnectionLostError,
  RemoteCommandError,
  SshExecutor,
  type LogLine,
  type StepRecord,
} from "./executor.js";
import { HostKeyError, parseKnownHosts } from "./known-hosts.js";
import { checkPrivateKey } from "./keys.js";
import { Redactor } from "./redact.js";
import { notifySlack } from "./slack.js";

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

export interface DeployRequest {
  env: EnvironmentSettings;
  /** The compose files of the repository's deploy/ directory (names as in env.composeFiles). */
  releaseFiles: ReleaseFile[];
  backendImage?: string;
  frontendImage?: string;
  /** Deploy what this environment runs now (its recorded release) instead of image refs. */
  promoteFrom?: EnvironmentSettings;
  /** Version/commit of the release; read from the backend image's OCI labels when absent. */
  version?: string;
  commit?: string;
  dryRun?: boolean;
  /** Environments with approvalRequired deploy only when this is set (CI: the gated job). */
  approved?: boolean;
}

export interface RollbackRequest {
  env: EnvironmentSettings;
  /** A backup of this environment to restore (database, uploads, release files). */
  backup?: string;
  /** Put back the release that served before the current one. */
  toPrevious?: boolean;
  dryRun?: boolean;
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
  ) {
    super(message);
  }
}

// --- input validation (before any connection: bad input changes nothing) --------------------

export function validateBackupName(name: string, env: EnvironmentSettings): void {
  if (name.includes("/") || name.includes("\\") || name.includes("..") || name.trim() !== name) {
    throw new DeployConfigError(
      `Bad backup name "${name}": give only the file name (no path parts), ` +
        `e.g. backup_${env.name}_20260101_120000.tar.gz from \`backups --env ${env.name}\`. Nothing was changed.`,
    );
  }
  const match = commands.BACKUP_NAME.exec(name);
  if (!match) {
    throw new DeployConfigError(
      `Bad backup name "${name}": expected backup_${env.name}_<YYYYMMDD_HHMMSS>.tar.gz ` +
        `(see \`backups --env ${env.name}\`). Nothing was changed.`,
    );
  }
  if (match[1] !== env.name) {
    throw new DeployConfigError(
      `Backup ${name} belongs to ${match[1]}, not ${env.name}: a rollback only restores ` +
        `backups of its own environment. Nothing was changed.`,
    );
  }
}

function validateCredentials(credentials: Credentials, env: EnvironmentSettings): void {
  checkPrivateKey(credentials.privateKey, credentials.passphrase);
  if (env.knownHosts.every((line) => line.trim() === "")) {
    throw new DeployConfigError(
      `Missing known_hosts for ${env.name}: without the server's verified host key line no connection is made. ` +
        `Add it to knownHosts in deploy/environments/${env.name}.json or pass --known-hosts ` +
        `(get it with ssh-keyscan -p ${env.sshPort} ${env.host || "HOST"} and check its fingerprint out of band). Nothing was changed.`,
    );
  }
  for (const line of env.knownHosts) parseKnownHosts(line);
  if (credentials.registryPassword !== undefined && credentials.registryPassword.trim() === "") {
    throw new DeployConfigError(
      `Missing secret: --registry-password was given but is empty. Nothing was changed.`,
    );
  }
  if (
    credentials.slackWebhook !== undefined &&
    !/^https?:\/\/\S+$/.test(credentials.slackWebhook.trim())
  ) {
    throw new DeployConfigError(`--slack-webhook must be an http(s) URL. Nothing was changed.`);
  }
}

function validateReleaseFiles(files: ReleaseFile[], env: EnvironmentSettings): ReleaseFile[] {
  return env.composeFiles.map((name) => {
    const file = files.find((f) => f.name === name);
    if (!file || file.content.trim() === "") {
      throw new DeployConfigError(
        `Compose file ${name} (listed in composeFiles of ${env.name}) was not found in deploy/. Nothing was changed.`,
      );
    }
    return file;
  });
}

function validateImages(images: ReleaseImages): void {
  for (const [flag, ref] of [
    ["--backend-image", images.backendImage],
    ["--frontend-image", images.frontendImage],
  ] as const) {
    if (!commands.isDigestRef(ref)) {
      throw new DeployConfigError(
        `${flag} "${ref}" is not a digest reference (name@sha256:<64 hex>): releases are pinned ` +
          `by digest; pass what \`publish\` printed. Nothing was changed.`,
      );
    }
  }
}

// --- plumbing --------------------------------------------------------------------------------

class Session {
  readonly lines: string[] = [];
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
      { log: this.log, redactor: this.redactor },
    );
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
      summary: this.redactor.redact(summary),
      env: this.env.name,
      steps: [...this.extraSteps, ...(this.executor?.steps ?? [])],
      roundTrips: this.extraRoundTrips + (this.executor?.roundTrips ?? 0),
      durationMs: Date.now() - this.started,
      log: this.lines,
      ...extra,
    };
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

  fail(message: string, extra: Partial<OperationReport> = {}): DeployError {
    const clean = this.redactor.redact(message);
    this.log(`FAILED: ${clean}`);
    return new DeployError(clean, this.report(false, clean, extra));
  }

  close(): void {
    this.executor?.close();
  }
}

function keyValues(output: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of output.split("\n")) {
    const at = line.indexOf("=");
    if (at > 0) values.set(line.slice(0, at).trim(), line.slice(at + 1).trim());
  }
  return values;
}

function reason(error: unknown): string {
  if (error instanceof RemoteCommandError || error instanceof ConnectionLostError)
    return error.message;
  return error instanceof Error ? error.message : String(error);
}

function lockInfo(caller: Caller, operation: string): commands.LockInfo {
  return {
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
}

function lostConnectionMessage(session: Session, what: string, error: ConnectionLostError): string {
  const env = session.env.name;
  return (
    `${what} ${error.message}. The server may still be running that step; its state is ` +
    `unknown and the deploy lock of ${env} stays held. Check \`status --env ${env}\`; when ` +
    `nothing runs any more, \`unlock --env ${env}\` and run it again (or restore with ` +
    `\`rollback --env ${env} --backup NAME\`).`
  );
}

async function notify(session: Session, text: string): Promise<void> {
  if (!session.credentials.slackWebhook) return;
  await notifySlack(session.credentials.slackWebhook, text, session.log);
}

function renderPlan(steps: { when: string; command: RemoteCommand }[]): string {
  return steps
    .map(({ when, command }) => {
      const stdin =
        command.stdin !== undefined
          ? `\n# stdin: ${command.stdin.length} secret bytes (not shown)`
          : "";
      return `### ${command.step}${when ? ` (${when})` : ""}: ${command.description}${stdin}\n${command.script}`;
    })
    .join("\n");
}

function now(): string {
  return new Date().toISOString();
}

function parseRecord(text: string, what: string): ReleaseRecord {
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

// --- deploy ------------------------------------------------------------------------------------

export async function deploy(
  request: DeployRequest,
  credentials: Credentials,
  caller: Caller,
): Promise<OperationReport> {
  const { env } = request;
  validateCredentials(credentials, env);
  const files = validateReleaseFiles(request.releaseFiles, env);
  if (request.promoteFrom && (request.backendImage || request.frontendImage)) {
    throw new DeployConfigError(
      `Give either --promote-from or --backend-image/--frontend-image, not both. Nothing was changed.`,
    );
  }
  if (!request.promoteFrom && (!request.backendImage || !request.frontendImage)) {
    throw new DeployConfigError(
      `Missing --backend-image and/or --frontend-image (digest references from \`publish\`), or use --promote-from staging. Nothing was changed.`,
    );
  }
  if (request.promoteFrom && request.promoteFrom.name === env.name) {
    throw new DeployConfigError(
      `--promote-from must name another environment than ${env.name}. Nothing was changed.`,
    );
  }
  for (const [flag, value] of [
    ["--version", request.version],
    ["--commit", request.commit],
  ] as const) {
    if (value !== undefined && !commands.isLabelValue(value)) {
      throw new DeployConfigError(
        `${flag} "${value}" may only hold letters, digits and . _ + -. Nothing was changed.`,
      );
    }
  }

  if (env.approvalRequired && !request.approved && !request.dryRun) {
    throw new DeployConfigError(
      `${env.name} requires an approval: pass --approved. CI passes it only when a person dispatches ` +
        `the deploy workflow (Actions > deploy > Run workflow), never for a push. Nothing was changed.`,
    );
  }

  const session = new Session(env, credentials, caller);
  const id = commands.releaseId(new Date(), randomBytes(3).toString("hex"));
  const backup = commands.backupName(env.name, new Date());

  try {
    // Promotion: take exactly the digests the source environment runs now.
    let images: ReleaseImages;
    let promotedVersion: string | undefined;
    let promotedCommit: string | undefined;
    if (request.promoteFrom) {
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
        images = { backendImage: record.backendImage, frontendImage: record.frontendImage };
        promotedVersion = record.version || undefined;
        promotedCommit = record.commit || undefined;
        session.log(
          `promoting ${source.name}'s release ${record.id} (version ${record.version || "?"}): ${images.backendImage}, ${images.frontendImage}`,
        );
      } finally {
        session.absorb(reader);
        reader.close();
      }
    } else {
      images = { backendImage: request.backendImage!, frontendImage: request.frontendImage! };
    }
    validateImages(images);
    const labels = {
      version: request.version ?? promotedVersion,
      commit: request.commit ?? promotedCommit,
    };
    const releaseEnv = commands.releaseEnvText(env, images, labels);
    const info = lockInfo(caller, `deploy ${id}`);
    const registries = [
      ...new Set([images.backendImage, images.frontendImage].map(commands.registryOf)),
    ];
    const login = (registry: string) =>
      commands.registryLogin(
        registry,
        credentials.registryUsername ?? "deploy",
        credentials.registryPassword ?? "",
      );

    if (request.dryRun) {
      const planned = [
        { when: "", command: commands.acquireLock(env, info) },
        { when: "", command: commands.preflight(env) },
        { when: "", command: commands.createBackup(env, backup) },
        { when: "", command: commands.pruneBackups(env, backup) },
        { when: "", command: commands.uploadRelease(env, id, files, releaseEnv) },
        ...(credentials.registryPassword
          ? registries.map((r) => ({ when: "", command: login(r) }))
          : []),
        { when: "", command: commands.pullImages(env, images, id) },
        { when: "", command: commands.migrate(env, id) },
        { when: "", command: commands.switchRelease(env, id) },
        { when: "", command: commands.composeUp(env) },
        {
          when: "",
          command: commands.healthCheck(
            env,
            labels.version ?? "<version label of the backend image>",
          ),
        },
        {
          when: "",
          command: commands.recordRelease(env, {
            time: "<now>",
            env: env.name,
            action: "deploy",
            result: "success",
            release: id,
            serving: id,
            ...images,
            holder: caller.holder,
            backup,
          }),
        },
        { when: "", command: commands.releaseLock(env, info.token) },
        { when: "on failure after the backup", command: commands.restoreSavedRelease(env) },
        { when: "on failure after migrations started", command: commands.stopApp(env) },
        {
          when: "on failure after migrations started",
          command: commands.restoreDatabase(env, backup),
        },
        { when: "on failure after the backup", command: commands.composeUp(env) },
        {
          when: "on failure after the backup",
          command: commands.healthCheck(env, "<previous release's version>"),
        },
      ];
      const plan = renderPlan(planned);
      session.log(
        `DRY RUN: deploy of ${images.backendImage} + ${images.frontendImage} to ${env.name}; nothing will be changed. Plan:`,
      );
      for (const line of plan.split("\n")) session.log(line);
      return session.report(
        true,
        `dry run: ${planned.length} steps planned for ${env.name}, nothing changed`,
        { plan, release: id },
      );
    }

    // 1. lock
    await session.open();
    await takeLock(session, info);

    // 2.-3. preflight and verified backup: a failure here leaves the server as it was.
    let previous: ReleaseRecord | undefined;
    let previousId = "none";
    try {
      const checks = keyValues((await session.run(commands.preflight(env))).stdout);
      previousId = checks.get("current") ?? "none";
      if (previousId !== "none") {
        if (!commands.RELEASE_ID.test(previousId))
          throw new Error(`the server's current release id "${previousId}" is malformed`);
        previous = parseRecord(
          (await session.run(commands.readReleaseRecord(env, previousId))).stdout,
          `release ${previousId}`,
        );
      }
      await session.run(commands.createBackup(env, backup));
      await session.run(commands.pruneBackups(env, backup));
    } catch (error) {
      if (error instanceof ConnectionLostError)
        throw session.fail(lostConnectionMessage(session, `Deploy to ${env.name}:`, error));
      const failedStep = error instanceof RemoteCommandError ? error.step : "preflight";
      await recordQuietly(
        session,
        session.entry({
          time: now(),
          env: env.name,
          action: "deploy",
          result: "failed",
          release: id,
          serving: previousId === "none" ? null : previousId,
          ...images,
          holder: caller.holder,
          runUrl: caller.runUrl,
          failedStep,
          message: reason(error),
        }),
      );
      await session.run(commands.releaseLock(env, info.token), true);
      await notify(session, `:x: deploy to ${env.name} stopped at ${failedStep}: nothing changed`);
      throw session.fail(
        `Deploy to ${env.name} stopped at step ${failedStep}: ${reason(error)}. Nothing was changed on the server; the lock was released.`,
      );
    }

    // 4.-8. from here on, any failure puts the previous release back.
    let migrationsStarted = false;
    let switched = false;
    let version = labels.version;
    let commit = labels.commit;
    try {
      await session.run(commands.uploadRelease(env, id, files, releaseEnv));
      if (credentials.registryPassword)
        for (const registry of registries) await session.run(login(registry));
      const pulled = keyValues((await session.run(commands.pullImages(env, images, id))).stdout);
      version ??= pulled.get("version") || undefined;
      commit ??= pulled.get("commit") || undefined;
      if (version !== undefined && !commands.isLabelValue(version)) version = undefined;
      if (commit !== undefined && !commands.isLabelValue(commit)) commit = undefined;
      migrationsStarted = true;
      await session.run(commands.migrate(env, id));
      switched = true;
      await session.run(commands.switchRelease(env, id));
      await session.run(commands.composeUp(env));
      await session.run(commands.healthCheck(env, version));
    } catch (error) {
      if (error instanceof ConnectionLostError)
        throw session.fail(lostConnectionMessage(session, `Deploy to ${env.name}:`, error), {
          backup,
        });
      const failedStep = error instanceof RemoteCommandError ? error.step : "deploy";
      const what = `Deploy of release ${id}${version ? ` (version ${version})` : ""} to ${env.name} failed at step ${failedStep}: ${reason(error)}.`;
      await autoRollback(session, {
        what,
        failedStep,
        backup,
        id,
        images,
        version,
        commit,
        previous,
        previousId,
        migrationsStarted,
        switched,
        token: info.token,
        action: "deploy",
      });
    }

    // 9. record, unlock, notify.
    const record: ReleaseRecord = {
      id,
      env: env.name,
      ...images,
      version: version ?? "",
      commit: commit ?? "",
      createdAt: now(),
    };
    await session.run(
      commands.recordRelease(
        env,
        session.entry({
          time: now(),
          env: env.name,
          action: "deploy",
          result: "success",
          release: id,
          serving: id,
          ...images,
          version,
          commit,
          backup,
          holder: caller.holder,
          runUrl: caller.runUrl,
        }),
        record,
      ),
    );
    await session.run(commands.releaseLock(env, info.token));
    const summary = `Deployed release ${id}${version ? ` (version ${version})` : ""} to ${env.name}: healthy. Backup before it: ${backup}.`;
    session.log(summary);
    await notify(session, `:white_check_mark: ${summary}`);
    return session.report(true, summary, { release: id, backup });
  } catch (error) {
    if (error instanceof DeployError || error instanceof DeployConfigError) throw error;
    if (error instanceof HostKeyError) throw session.fail(error.message);
    if (error instanceof ConnectionLostError)
      throw session.fail(lostConnectionMessage(session, `${env.name}:`, error));
    throw session.fail(`Deploy to ${env.name} failed: ${reason(error)}`);
  } finally {
    session.close();
  }
}

async function recordQuietly(
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

interface RollbackState {
  what: string;
  failedStep: string;
  backup: string;
  id: string | null;
  images?: ReleaseImages;
  version?: string;
  commit?: string;
  previous: ReleaseRecord | undefined;
  previousId: string;
  migrationsStarted: boolean;
  switched: boolean;
  token: string;
  action: "deploy" | "rollback";
  /** Restore uploads + release files from the backup too (rollback of a restore). */
  restoreFilesFromBackup?: boolean;
}

/** Puts the server back to the state the backup recorded, then throws the DeployError. */
async function autoRollback(session: Session, state: RollbackState): Promise<never> {
  const { env, caller } = session;
  const touched = state.switched || state.migrationsStarted;
  session.log(`AUTOMATIC ROLLBACK: ${state.what}`);
  let serving = state.previousId === "none" ? null : state.previousId;
  let stateNow: string;
  try {
    if (!touched) {
      stateNow = serving
        ? `The running release ${serving} was not touched and still serves.`
        : `Nothing was running and nothing was started.`;
    } else {
      if (state.restoreFilesFromBackup) {
        await session.run(commands.stopApp(env));
        await session.run(commands.restoreDatabase(env, state.backup));
        await session.run(commands.restoreBackupFiles(env, state.backup));
      } else {
        if (state.switched) await session.run(commands.restoreSavedRelease(env));
        if (state.migrationsStarted) {
          await session.run(commands.stopApp(env));
          await session.run(commands.restoreDatabase(env, state.backup));
        }
      }
      if (serving === null) {
        await session.run(commands.stopApp(env));
        stateNow = `There was no earlier release: the app services are stopped, the database is as before the deploy (backup ${state.backup}).`;
      } else {
        await session.run(commands.composeUp(env));
        await session.run(commands.healthCheck(env, state.previous?.version || undefined));
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
    if (rollbackError instanceof ConnectionLostError) {
      throw session.fail(
        `${state.what} ${lostConnectionMessage(session, "Automatic rollback:", rollbackError)}`,
        { backup: state.backup },
      );
    }
    const step = rollbackError instanceof RemoteCommandError ? rollbackError.step : "rollback";
    await recordQuietly(
      session,
      session.entry({
        time: now(),
        env: env.name,
        action: state.action,
        result: "failed",
        release: state.id,
        serving: null,
        ...state.images,
        version: state.version,
        commit: state.commit,
        backup: state.backup,
        holder: caller.holder,
        runUrl: caller.runUrl,
        failedStep: state.failedStep,
        message: `rollback failed at ${step}`,
      }),
    );
    await notify(
      session,
      `:rotating_light: ${env.name}: ${state.what} The automatic rollback failed at ${step}. Manual action needed.`,
    );
    throw session.fail(
      `${state.what} The automatic rollback ALSO failed at step ${step}: ${reason(rollbackError)}. ` +
        `The server is in an unknown state and the deploy lock stays held. Recover with ` +
        `\`rollback --env ${env.name} --backup ${state.backup}\` after \`unlock --env ${env.name}\`.`,
      { backup: state.backup },
    );
  }
  serving = state.previousId === "none" ? null : state.previousId;
  await recordQuietly(
    session,
    session.entry({
      time: now(),
      env: env.name,
      action: state.action,
      result: "rolled-back",
      release: state.id,
      serving,
      ...state.images,
      version: state.version,
      commit: state.commit,
      backup: state.backup,
      holder: caller.holder,
      runUrl: caller.runUrl,
      failedStep: state.failedStep,
      message: state.what,
    }),
  );
  await session.run(commands.releaseLock(env, state.token), true);
  await notify(session, `:warning: ${state.what} ${stateNow}`);
  throw session.fail(`${state.what} ${stateNow} The lock was released.`, {
    backup: state.backup,
    ...(state.id ? { release: state.id } : {}),
  });
}

// --- rollback ----------------------------------------------------------------------------------

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
    await takeLock(session, info);

    let currentId = "none";
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
      await session.run(commands.releaseLock(env, info.token), true);
      if (error instanceof ConnectionLostError)
        throw session.fail(lostConnectionMessage(session, `Rollback of ${env.name}:`, error));
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
        throw session.fail(lostConnectionMessage(session, `Rollback of ${env.name}:`, error), {
          backup: safety,
        });
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
        token: info.token,
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
    await session.run(commands.releaseLock(env, info.token));
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

// --- read-only and lock operations --------------------------------------------------------------

async function simple(
  env: EnvironmentSettings,
  credentials: Credentials,
  caller: Caller,
  command: RemoteCommand,
  summarize: (stdout: string) => string,
): Promise<OperationReport> {
  validateCredentials(credentials, env);
  const session = new Session(env, credentials, caller);
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
    commands.listBackups(env),
    (out) => out.trim() || `no backups of ${env.name}`,
  );
}

export function listReleases(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(env, credentials, caller, commands.readHistory(env), (out) => {
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
  });
}

export function status(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(env, credentials, caller, commands.statusReport(env), (out) => out.trim());
}

export function unlock(env: EnvironmentSettings, credentials: Credentials, caller: Caller) {
  return simple(env, credentials, caller, commands.forceUnlock(env, caller.holder), (out) =>
    out.trim(),
  );
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
    const status = (await session.run(commands.statusReport(env))).stdout.trim();
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
    commands.appLogs(env, args.lines, args.service || undefined),
    (out) => out.trimEnd() || `no logs in ${env.name}`,
  );
}

// The one executor: one ssh2 connection per operation, host key verified during the
// handshake against the given known_hosts text, every command a bash script, output
// streamed line by line through the redactor, each step recorded with its duration.
import { Client, type ConnectConfig } from "ssh2";
import {
  hostKeyAlgorithms,
  HostKeyError,
  hostKeyVerdict,
  keysForHost,
  type HostKeys,
} from "./known-hosts.js";
import { fingerprint, keyTypeOf } from "./keys.js";
import { OutputCapture } from "./bounded-output.js";
import type { Redactor } from "./redact.js";
import { markValue, type RemoteCommand } from "./commands/index.js";

export interface SshTarget {
  host: string;
  port: number;
  username: string;
  privateKey: string;
  passphrase?: string;
  knownHosts: string;
}

export interface StepRecord {
  step: string;
  description: string;
  startedAt: string;
  durationMs: number;
  exitCode: number | null;
  ok: boolean;
}

export interface CommandResult {
  stdout: string;
  stderr: string;
  exitCode: number;
}

export type LogLine = (line: string) => void;

/** A status line Compose prints on stderr, e.g. " Container qgo-staging-db-1  Waiting". */
const COMPOSE_STATUS =
  /^\s*(Container|Network|Volume) \S+\s+(Creating|Created|Starting|Started|Running|Waiting|Healthy|Recreate|Recreated|Stopping|Stopped|Removing|Removed)\s*$/;

/** A remote command exited non-zero (the output is already redacted). */
export class RemoteCommandError extends Error {
  override name = "RemoteCommandError";
  constructor(
    readonly step: string,
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    // The command's own last words (a migration's error spans several lines, with blank ones),
    // without Compose's status lines about the containers around it.
    const detail = (stderr.trim() || stdout.trim())
      .split("\n")
      .filter((line) => line.trim() !== "" && !COMPOSE_STATUS.test(line))
      .slice(-8)
      .join("\n");
    super(`step ${step} failed (exit ${exitCode})${detail ? `: ${detail}` : ""}`);
  }
}

/** The SSH connection broke or a command overran its time limit: the server state is unknown. */
export class ConnectionLostError extends Error {
  override name = "ConnectionLostError";
  constructor(
    readonly step: string,
    reason: string,
  ) {
    super(`SSH connection lost during step ${step}: ${reason}`);
  }
}

export class SshConnectError extends Error {
  override name = "SshConnectError";
}

export interface ExecutorOptions {
  log: LogLine;
  redactor: Redactor;
  marks?: ProcessMarks;
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

/** What failed, both fingerprints, and how to check which one is right. */
export function hostKeyMismatchMessage(
  hostKeys: HostKeys,
  presented: Buffer,
  revoked: boolean,
): string {
  const type = keyTypeOf(presented);
  const shown = `${type} ${fingerprint(presented)}`;
  if (revoked) {
    return (
      `Host key verification failed for ${hostKeys.name}: the server presented ${shown}, which ` +
      `known_hosts marks @revoked. Connection refused before any command ran. Find out why the ` +
      `server still uses a revoked key before you trust it again.`
    );
  }
  const listed = hostKeys.accepted
    .map((entry) => `${entry.keyType} ${fingerprint(entry.key)}`)
    .join(", ");
  const publicKeyFile = `/etc/ssh/ssh_host_${type.replace(/^ssh-/, "").replace(/^ecdsa-sha2-.*/, "ecdsa")}_key.pub`;
  return (
    `Host key verification failed for ${hostKeys.name}: the server presented ${shown}, ` +
    `but known_hosts expects ${listed}. Connection refused before any command ran. ` +
    `Check out of band which one is right, e.g. on the server's console: ssh-keygen -lf ${publicKeyFile}. ` +
    `If the server's key really changed, update knownHosts (the environment file or --known-hosts).`
  );
}

/** What marks an operation's processes on the server, so that a later one can find them. */
export interface ProcessMarks {
  /** The environment's name (QGO_ENV). */
  env: string;
  /** The operation's own id (QGO_OPERATION). */
  operation: string;
}

/**
 * Encodes a script so that any login shell (sh, dash, bash) hands it to bash untouched. The
 * process carries the operation's marks (QGO_ENV, QGO_OPERATION, QGO_STEP) in its environment,
 * inherited by everything it starts; a prelude (the lock's check and step note, under the lock)
 * runs first, in the same process. `--norc`: Debian's bash reads ~/.bashrc when sshd starts it
 * (SSH_SOURCE_BASHRC), even to run a script; what that prints would mix into the step's output,
 * and a slow one (pyenv, nvm) would cost every round trip. The login shell itself still reads it.
 */
export function remoteInvocation(
  scriptText: string,
  step = "command",
  marks?: ProcessMarks,
  prelude?: string,
): string {
  const text = prelude ? `${prelude}\n${scriptText}` : scriptText;
  const encoded = Buffer.from(text, "utf8").toString("base64");
  if (!marks) return `bash --norc -c "$(echo ${encoded} | base64 -d)" qgo-deploy`;
  // The marks go unquoted before `bash`, in whatever login shell the server has.
  for (const value of [marks.env, marks.operation, step]) markValue(value, "process mark");
  const vars = `QGO_ENV=${marks.env} QGO_OPERATION=${marks.operation} QGO_STEP=${step}`;
  return `${vars} bash --norc -c "$(echo ${encoded} | base64 -d)" qgo-${step}`;
}

export class SshExecutor {
  readonly steps: StepRecord[] = [];
  /** Commands sent over the connection (each is one exec channel round trip). */
  roundTrips = 0;
  /** What each command runs first, by step (under the lock: its check and the step's note). */
  prelude: ((step: string, seq: number) => string) | undefined;
  /** Commands sent with a prelude, counted: their order in the operation's journal. */
  private journalled = 0;
  private closedReason: string | undefined;

  private constructor(
    private readonly client: Client,
    private readonly options: ExecutorOptions,
    readonly target: string,
  ) {
    client.on("close", () => {
      this.closedReason ??= "the connection was closed";
    });
    client.on("error", (error: Error) => {
      this.closedReason ??= error.message;
    });
  }

  /**
   * Connects and authenticates. The host key is checked against `knownHosts` inside the
   * handshake; an unknown key aborts the connection before authentication.
   */
  static async connect(target: SshTarget, options: ExecutorOptions): Promise<SshExecutor> {
    const hostKeys = keysForHost(target.knownHosts, target.host, target.port);
    const { name } = hostKeys;
    const client = new Client();
    // The key the server presented, kept for the error message when it is refused.
    let rejected: { key: Buffer; revoked: boolean } | undefined;
    const config: ConnectConfig = {
      host: target.host,
      port: target.port,
      username: target.username,
      privateKey: target.privateKey,
      ...(target.passphrase ? { passphrase: target.passphrase } : {}),
      readyTimeout: options.readyTimeoutMs ?? 20_000,
      keepaliveInterval: options.keepaliveIntervalMs ?? 10_000,
      keepaliveCountMax: options.keepaliveCountMax ?? 3,
      algorithms: { serverHostKey: hostKeyAlgorithms(hostKeys) as never },
      hostVerifier: (key: Buffer) => {
        const verdict = hostKeyVerdict(hostKeys, key);
        if (!verdict.ok) rejected = { key, revoked: verdict.revoked };
        return verdict.ok;
      },
    };
    options.log(`connecting to ${target.username}@${name} (host key checked against known_hosts)`);
    const started = Date.now();
    await new Promise<void>((resolve, reject) => {
      const onError = (error: Error) => {
        client.removeListener("ready", onReady);
        client.end();
        if (rejected) {
          reject(
            new HostKeyError(hostKeyMismatchMessage(hostKeys, rejected.key, rejected.revoked)),
          );
        } else {
          reject(
            new SshConnectError(
              `Cannot connect to ${target.username}@${name}: ${options.redactor.redact(error.message)}`,
            ),
          );
        }
      };
      const onReady = () => {
        client.removeListener("error", onError);
        resolve();
      };
      client.once("ready", onReady);
      client.once("error", onError);
      try {
        client.connect(config);
      } catch (error) {
        onError(error as Error);
      }
    });
    options.log(`connected in ${Date.now() - started} ms`);
    return new SshExecutor(client, options, name);
  }

  /** Runs a command; throws RemoteCommandError on a non-zero exit unless `allowFailure`. */
  async run(command: RemoteCommand, allowFailure = false): Promise<CommandResult> {
    const { log } = this.options;
    const startedAt = new Date();
    log(`==> [${command.step}] ${command.description}`);
    // Recorded when it starts, so steps run side by side keep the runbook's order.
    const record: StepRecord = {
      step: command.step,
      description: command.description,
      startedAt: startedAt.toISOString(),
      durationMs: 0,
      exitCode: null,
      ok: false,
    };
    this.steps.push(record);
    let exitCode: number | null = null;
    try {
      const result = await this.exec(command);
      exitCode = result.exitCode;
      if (result.exitCode !== 0 && !allowFailure) {
        throw new RemoteCommandError(command.step, result.exitCode, result.stdout, result.stderr);
      }
      return result;
    } finally {
      const durationMs = Date.now() - startedAt.getTime();
      const ok = exitCode === 0;
      Object.assign(record, { durationMs, exitCode, ok });
      log(
        `<== [${command.step}] ${ok ? "ok" : exitCode === null ? "connection lost" : `exit ${exitCode}`} in ${(durationMs / 1000).toFixed(1)} s`,
      );
    }
  }

  private exec(command: RemoteCommand): Promise<CommandResult> {
    const { log, redactor } = this.options;
    if (this.closedReason)
      return Promise.reject(new ConnectionLostError(command.step, this.closedReason));
    this.roundTrips += 1;
    return new Promise<CommandResult>((resolve, reject) => {
      let settled = false;
      const finish = (fn: () => void) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.client.removeListener("close", onClientClose);
        fn();
      };
      const onClientClose = () =>
        finish(() =>
          reject(
            new ConnectionLostError(command.step, this.closedReason ?? "the connection was closed"),
          ),
        );
      this.client.once("close", onClientClose);
      let openChannel: { close: () => void } | undefined;
      const timer = setTimeout(() => {
        openChannel?.close();
        finish(() =>
          reject(
            new ConnectionLostError(command.step, `no result within ${command.timeoutMs / 1000} s`),
          ),
        );
      }, command.timeoutMs);
      // Each stream keeps its first and last lines (redacted, printable, capped), not all.
      const stdout = new OutputCapture(redactor, (line) => log(`    ${line}`));
      const stderr = new OutputCapture(redactor, (line) => log(`    ! ${line}`));
      const invocation = remoteInvocation(
        command.script,
        command.step,
        this.options.marks,
        this.prelude?.((command.journalSteps ?? [command.step]).join(","), ++this.journalled),
      );
      this.client.exec(invocation, (error, channel) => {
        if (error) {
          finish(() => reject(new ConnectionLostError(command.step, error.message)));
          return;
        }
        openChannel = channel;
        let code: number | null = null;
        channel.on("exit", (exitCode: number | null, signal?: string) => {
          code = exitCode ?? (signal ? 128 : 255);
        });
        channel.on("data", (data: Buffer) => stdout.write(data));
        channel.stderr.on("data", (data: Buffer) => stderr.write(data));
        channel.on("close", () => {
          stdout.close();
          stderr.close();
          if (code === null) {
            finish(() =>
              reject(
                new ConnectionLostError(command.step, "the command ended without an exit status"),
              ),
            );
            return;
          }
          const exitCode = code;
          finish(() => resolve({ stdout: stdout.text(), stderr: stderr.text(), exitCode }));
        });
        if (command.stdin !== undefined) channel.end(command.stdin);
        else channel.end();
      });
    });
  }

  close(): void {
    this.closedReason ??= "closed by the deploy";
    this.client.end();
  }
}

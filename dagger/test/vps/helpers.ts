// Helpers for tests that use the VPS-in-a-box (the harness's own and the deploy tests):
// the box's description, SSH (ssh2, host key checked against the box's known_hosts line),
// SFTP uploads, docker against the box's engine, SQL in a project's db container, HTTP.
import { readFileSync } from "node:fs";
import { Client, type ConnectConfig } from "ssh2";
import { inject } from "vitest";
import { $, quote } from "zx";
import type { VpsBox } from "./box.js";

export function vpsBox(): VpsBox {
  const box = inject("vpsBox");
  if (!box)
    throw new Error(
      "No VPS box provided: run this file in the `vps` suite (vitest.vps.config.ts).",
    );
  return box;
}

/** The key blob of a known_hosts line (`[host]:port type base64`). */
export function hostKeyOf(knownHostsLine: string): Buffer {
  const fields = knownHostsLine.trim().split(/\s+/);
  if (fields.length < 3 || !fields[2]) throw new Error(`not a known_hosts line: ${knownHostsLine}`);
  return Buffer.from(fields[2], "base64");
}

export interface SshOptions {
  knownHostsLine?: string;
  privateKey?: Buffer | string;
  timeoutMs?: number;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

function connectConfig(box: VpsBox, options: SshOptions): ConnectConfig {
  const expected = hostKeyOf(options.knownHostsLine ?? box.knownHostsLine);
  return {
    host: box.sshHost,
    port: box.sshPort,
    username: box.sshUser,
    privateKey: options.privateKey ?? readFileSync(box.privateKeyPath),
    // Strict: only the exact key of the known_hosts line is accepted.
    hostVerifier: (key: Buffer) => key.equals(expected),
    readyTimeout: options.timeoutMs ?? 20_000,
  };
}

function withConnection<T>(
  box: VpsBox,
  options: SshOptions,
  use: (client: Client) => Promise<T>,
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const client = new Client();
    client.once("error", reject);
    client.once("ready", () => {
      use(client).then(
        (value) => {
          client.end();
          resolve(value);
        },
        (error: unknown) => {
          client.end();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      );
    });
    client.connect(connectConfig(box, options));
  });
}

/** Run a bash script on the box over SSH, with `set -euo pipefail`; never throws on exit codes. */
export function sshRun(box: VpsBox, script: string, options: SshOptions = {}): Promise<RunResult> {
  return withConnection(
    box,
    options,
    (client) =>
      new Promise<RunResult>((resolve, reject) => {
        client.exec(`bash -c ${quote(`set -euo pipefail\n${script}`)}`, (error, channel) => {
          if (error) return reject(error);
          let stdout = "";
          let stderr = "";
          channel.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
          channel.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
          channel.on("close", (code: number | null) =>
            resolve({ code: code ?? -1, stdout, stderr }),
          );
        });
      }),
  );
}

/** Like sshRun, but throws with the output when the script fails. */
export async function sshCheck(
  box: VpsBox,
  script: string,
  options: SshOptions = {},
): Promise<string> {
  const result = await sshRun(box, script, options);
  if (result.code !== 0) {
    throw new Error(
      `remote script exited ${result.code}:\n${script}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
    );
  }
  return result.stdout;
}

/** Write files on the box over SFTP (remote path -> content). */
export function sftpWrite(
  box: VpsBox,
  files: Record<string, string | Buffer>,
  options: SshOptions = {},
): Promise<void> {
  return withConnection(
    box,
    options,
    (client) =>
      new Promise<void>((resolve, reject) => {
        client.sftp((error, sftp) => {
          if (error) return reject(error);
          const entries = Object.entries(files);
          const next = (index: number) => {
            const entry = entries[index];
            if (!entry) {
              sftp.end();
              return resolve();
            }
            sftp.writeFile(entry[0], entry[1], (writeError) =>
              writeError ? reject(writeError) : next(index + 1),
            );
          };
          next(0);
        });
      }),
  );
}

/** zx `$` against the box's dockerd (for assertions from the test process). */
export function boxDocker(box: VpsBox) {
  return $({
    env: { ...process.env, DOCKER_HOST: box.dockerHost, DOCKER_CONFIG: box.dockerConfigDir },
    quiet: true,
  });
}

/** The standard compose command of an environment, as a remote shell fragment (run in the app dir). */
export function composeCommand(box: VpsBox, env: "staging" | "production"): string {
  const parts = [
    "docker",
    "compose",
    "-p",
    box.projects[env],
    "--env-file",
    ".env",
    "--env-file",
    "release.env",
  ];
  parts.push("-f", "compose.yaml", "-f", `compose.${env}.yaml`);
  return parts.map((part) => quote(part)).join(" ");
}

export function appDir(box: VpsBox, env: "staging" | "production"): string {
  return env === "production" ? box.productionAppDir : box.stagingAppDir;
}

/**
 * Run SQL as root in the db container of a compose project; returns tab-separated rows.
 * The password comes from the container's own environment, never from the test.
 */
export async function dbQuery(box: VpsBox, project: string, sql: string): Promise<string[][]> {
  const docker = boxDocker(box);
  const container = (
    await docker`docker ps -q --filter ${`label=com.docker.compose.project=${project}`} --filter label=com.docker.compose.service=db`
  ).stdout.trim();
  if (!container) throw new Error(`no running db container in compose project ${project}`);
  const output = (
    await docker({
      input: sql,
    })`docker exec -i ${container} sh -c ${'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot --batch --skip-column-names "$MYSQL_DATABASE"'}`
  ).stdout;
  return output
    .split("\n")
    .filter((line) => line.length > 0)
    .map((line) => line.split("\t"));
}

/** fetch with a timeout; tests only ever address 127.0.0.1. */
export async function httpRequest(
  url: string,
  init: RequestInit = {},
  timeoutMs = 10_000,
): Promise<Response> {
  if (!url.startsWith("http://127.0.0.1:"))
    throw new Error(`tests address 127.0.0.1 only, not ${url}`);
  return fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
}

// The executor's one way to the box's Docker engine: the docker CLI with the box's DOCKER_HOST
// and DOCKER_CONFIG (its buildx plugin), argv only (no shell), stdout and stderr kept apart.
import { spawn } from "node:child_process";

export interface DockerResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface DockerTarget {
  dockerHost: string;
  dockerConfigDir: string;
}

export class Docker {
  constructor(private readonly target: DockerTarget) {}

  /** Runs `docker <args>`; never throws on a non-zero exit (see {@link Docker.check}). */
  run(
    args: string[],
    options: {
      input?: NodeJS.ReadableStream | string;
      env?: Record<string, string>;
      signal?: AbortSignal;
    } = {},
  ): Promise<DockerResult> {
    const child = spawn("docker", args, {
      env: {
        ...process.env,
        DOCKER_HOST: this.target.dockerHost,
        DOCKER_CONFIG: this.target.dockerConfigDir,
        ...options.env,
      },
      stdio: ["pipe", "pipe", "pipe"],
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => undefined);
    if (typeof options.input === "string") child.stdin.end(options.input);
    else if (options.input) options.input.pipe(child.stdin);
    else child.stdin.end();
    return new Promise((ok) => {
      child.on("error", (error) =>
        ok({ exitCode: 127, stdout: "", stderr: `docker: ${error.message}` }),
      );
      child.on("close", (code, signal) =>
        ok({
          exitCode: code ?? (signal ? 128 : 1),
          stdout: Buffer.concat(stdout).toString(),
          stderr: Buffer.concat(stderr).toString(),
        }),
      );
    });
  }

  /** Runs `docker <args>` and returns its trimmed stdout; a failure throws with its stderr. */
  async check(args: string[], options: Parameters<Docker["run"]>[1] = {}): Promise<string> {
    const result = await this.run(args, options);
    if (result.exitCode !== 0) {
      throw new Error(
        `docker ${args.slice(0, 3).join(" ")} … failed (exit ${result.exitCode}): ${result.stderr.trim().slice(-2000)}`,
      );
    }
    return result.stdout.trim();
  }
}

// Containers of the executing engine. A Container value is a filesystem (a Docker image of the
// box's engine: the rootfs only) plus the state Dagger keeps beside it: image config (env,
// workdir, entrypoint, default args, user, labels, ports, health check), cache mounts, secret
// variables and service bindings. Config steps only change that state; filesystem steps and
// execs make a new image (`docker commit`). The config is written into an image only when one
// leaves the engine (publish, asTarball): secrets are never part of any image's config.
import { randomBytes } from "node:crypto";
import { spawn } from "node:child_process";
import { chmod, copyFile, mkdir, mkdtemp, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";

import type { Docker } from "./docker.js";

export interface ImageConfig {
  env: string[];
  workdir: string;
  entrypoint: string[];
  cmd: string[];
  user: string;
  labels: Record<string, string>;
  exposedPorts: number[];
  healthcheck?: Healthcheck;
}

/** A Docker health check; durations in milliseconds. */
export interface Healthcheck {
  test: string[];
  intervalMs?: number;
  timeoutMs?: number;
  startPeriodMs?: number;
  startIntervalMs?: number;
  retries?: number;
}

export interface ServiceSpec {
  kind: "Service";
  digest?: string;
  /** Identity of the service (its chain): one instance per identity while in use. */
  key: string;
  container: ContainerState;
  /** The argv it runs (see serviceCommand). */
  command: string[];
}

export interface ContainerState {
  kind: "Container";
  /** What the state is made of (the parent's digest, the step, its arguments' digests). */
  digest?: string;
  /** Image ID holding the filesystem; undefined before `from`. */
  image?: string;
  config: ImageConfig;
  caches: { path: string; volume: string }[];
  /** Secret variables: name and the Secret's ID (its value is looked up only to run). */
  secretEnv: { name: string; secretId: string }[];
  bindings: { alias: string; service: ServiceSpec }[];
  /** Ports a service is health-checked on: withExposedPort and dockerBuild's EXPOSE, not from()'s. */
  ports: number[];
  /** Default args set explicitly (withDefaultArgs, or a Dockerfile CMD): asService then skips the entrypoint. */
  defaultArgs: boolean;
  lastExec?: { args: string[]; stdout: string; stderr: string };
}

export const emptyConfig = (): ImageConfig => ({
  env: [],
  workdir: "",
  entrypoint: [],
  cmd: [],
  user: "",
  labels: {},
  exposedPorts: [],
});

export const scratch = (): ContainerState => ({
  kind: "Container",
  config: emptyConfig(),
  caches: [],
  secretEnv: [],
  bindings: [],
  ports: [],
  defaultArgs: false,
});

/** The config of an image in the box's engine. */
export async function inspectConfig(docker: Docker, image: string): Promise<ImageConfig> {
  const raw = JSON.parse(
    await docker.check(["image", "inspect", "--format", "{{json .Config}}", image]),
  ) as {
    Env?: string[] | null;
    WorkingDir?: string;
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    User?: string;
    Labels?: Record<string, string> | null;
    ExposedPorts?: Record<string, unknown> | null;
    Healthcheck?: {
      Test?: string[];
      Interval?: number;
      Timeout?: number;
      StartPeriod?: number;
      StartInterval?: number;
      Retries?: number;
    } | null;
  };
  const config: ImageConfig = {
    env: raw.Env ?? [],
    workdir: raw.WorkingDir ?? "",
    entrypoint: raw.Entrypoint ?? [],
    cmd: raw.Cmd ?? [],
    user: raw.User ?? "",
    labels: raw.Labels ?? {},
    exposedPorts: Object.keys(raw.ExposedPorts ?? {})
      .filter((port) => port.endsWith("/tcp"))
      .map((port) => Number(port.split("/")[0])),
  };
  const check = raw.Healthcheck;
  if (check?.Test) {
    const ms = (ns?: number) => (ns ? { value: ns / 1e6 } : undefined);
    config.healthcheck = {
      test: check.Test,
      ...(ms(check.Interval) && { intervalMs: ms(check.Interval)!.value }),
      ...(ms(check.Timeout) && { timeoutMs: ms(check.Timeout)!.value }),
      ...(ms(check.StartPeriod) && { startPeriodMs: ms(check.StartPeriod)!.value }),
      ...(ms(check.StartInterval) && { startIntervalMs: ms(check.StartInterval)!.value }),
      ...(check.Retries ? { retries: check.Retries } : {}),
    };
  }
  return config;
}

export function withEnv(config: ImageConfig, name: string, value: string): ImageConfig {
  return {
    ...config,
    env: [...config.env.filter((e) => !e.startsWith(`${name}=`)), `${name}=${value}`],
  };
}

export function envValue(config: ImageConfig, name: string): string | undefined {
  const entry = config.env.find((e) => e.startsWith(`${name}=`));
  return entry?.slice(name.length + 1);
}

/** A Go duration as withDockerHealthcheck takes it ("2s", "1m30s", "500ms") in milliseconds. */
export function durationMs(text: string): number {
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  const parts = text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g);
  let consumed = 0;
  for (const [whole, value, unit] of parts) {
    total += Number(value) * units[unit!]!;
    consumed += whole.length;
  }
  if (consumed !== text.length || text === "")
    throw new Error(`invalid duration ${JSON.stringify(text)}`);
  return total;
}

/** Dagger resolves a relative path against the container's workdir. */
export function absolute(config: ImageConfig, path: string): string {
  if (path.startsWith("/")) return path;
  return `${config.workdir.replace(/\/$/, "") || ""}/${path}`.replace(/^([^/])/, "/$1");
}

export class ContainerOps {
  constructor(
    private readonly docker: Docker,
    private readonly track: (image: string) => void,
  ) {}

  /** Copies a host tree (a materialized Directory) into the container at `path` (merging), owned by root. */
  async copyIn(state: ContainerState, hostTree: string, path: string): Promise<ContainerState> {
    return this.commitAfter(state, "withDirectory", async (container) => {
      await this.makeDirs(container, path);
      await this.docker.check(["cp", "-", `${container}:${path}`], {
        input: tarOf(hostTree, ["."]),
      });
    });
  }

  /** Copies one host file into the container as `path` (parents created), owned by root. */
  async copyFileIn(state: ContainerState, hostFile: string, path: string): Promise<ContainerState> {
    const dir = posix.dirname(path);
    return this.commitAfter(state, "withFile", async (container) => {
      await this.makeDirs(container, dir);
      const staged = await mkdtemp(join(tmpdir(), "qgo-exec-file-"));
      try {
        await copyFile(hostFile, join(staged, posix.basename(path)));
        await chmod(join(staged, posix.basename(path)), (await stat(hostFile)).mode & 0o7777);
        await this.docker.check(["cp", "-", `${container}:${dir}`], {
          input: tarOf(staged, [posix.basename(path)]),
        });
      } finally {
        await rm(staged, { recursive: true, force: true });
      }
    });
  }

  /** A stopped container of the state's image, changed by `change`, committed: the new filesystem. */
  private async commitAfter(
    state: ContainerState,
    step: string,
    change: (container: string) => Promise<void>,
  ): Promise<ContainerState> {
    const image = requireImage(state, step);
    const container = await this.docker.check(["create", "--entrypoint", "", image, "/"]);
    try {
      await change(container);
      const committed = await this.docker.check(["commit", container]);
      this.track(committed);
      return { ...state, image: committed };
    } finally {
      await this.docker.run(["rm", "-f", container]);
    }
  }

  /** `docker cp` needs the target directory to exist: a tar of the directory chain creates it. */
  private async makeDirs(container: string, path: string): Promise<void> {
    const parts = path.split("/").filter(Boolean);
    if (parts.length === 0) return;
    const temp = await mkdtemp(join(tmpdir(), "qgo-exec-dirs-"));
    try {
      await mkdir(join(temp, ...parts), { recursive: true });
      // Only directories missing in the image matter; existing ones keep their mode (tar
      // entries for them carry 0755 root, as Dagger gives the parents it creates).
      await this.docker.check(["cp", "-", `${container}:/`], { input: tarOf(temp, [parts[0]!]) });
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
  }
}

/** A tar stream of `entries` under `dir`, every entry owned by root (numeric ids). */
function tarOf(dir: string, entries: string[]): NodeJS.ReadableStream {
  const tar = spawn(
    "tar",
    ["-C", dir, "--numeric-owner", "--owner=0", "--group=0", "-cf", "-", ...entries],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  return tar.stdout;
}

export const uniqueName = (prefix: string) => `${prefix}-${randomBytes(5).toString("hex")}`;

/** The state's filesystem image; a step on a container without one says what to call first. */
export function requireImage(state: ContainerState, step: string): string {
  if (!state.image)
    throw new Error(`${step} on a container without a filesystem: call from() first`);
  return state.image;
}

// Images of the executing engine in the box's Docker engine: builds (dockerBuild), the image
// as it leaves the engine (the state's config written in), tarballs and pushes, and the record
// of every image a run made, to scan them for secrets and to remove them at the end.
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { inspectConfig, requireImage, scratch, type ContainerState } from "./containers.js";
import { cleanRelative, newTree, type DirectoryValue, type FileValue } from "./directories.js";
import type { Docker } from "./docker.js";

export class ImageStore {
  /** Every image this run made, in order. */
  readonly created: string[] = [];
  /** Tags this run made (FROM bases of final images). */
  readonly tags = new Set<string>();

  constructor(
    private readonly docker: Docker,
    private readonly workRoot: string,
    private readonly log: (line: string) => void,
  ) {}

  track(image: string): void {
    this.created.push(image);
  }

  /** Removes the tags, then the images, this run made; `alsoUntag` are more tags to drop. */
  async removeAll(alsoUntag: string[]): Promise<void> {
    for (const tag of [...this.tags, ...alsoUntag]) await this.docker.run(["image", "rm", tag]);
    for (const image of [...this.created].reverse())
      await this.docker.run(["image", "rm", "-f", image]);
  }

  /**
   * The images this run made (from the `since`-th on, see imageCount) whose config, history
   * or layers contain `text` (a secret's value must be in none): `docker image inspect`,
   * `docker history --no-trunc` and the saved layers.
   */
  async mentioning(text: string, since = 0): Promise<string[]> {
    const found: string[] = [];
    for (const image of new Set(this.created.slice(since))) {
      const inspect = await this.docker.run(["image", "inspect", image]);
      if (inspect.exitCode !== 0) continue;
      const history = await this.docker.check([
        "history",
        "--no-trunc",
        "--format",
        "{{.CreatedBy}}",
        image,
      ]);
      const saved = join(await newTree(this.workRoot, "scan"), "image.tar");
      await this.docker.check(["save", "-o", saved, image]);
      const layers = grepTar(saved, text);
      await rm(dirname(saved), { recursive: true, force: true });
      if (inspect.stdout.includes(text) || history.includes(text) || layers) found.push(image);
    }
    return found;
  }

  /** dockerBuild with the box's BuildKit (`docker build`), the Dockerfile relative to the context. */
  async build(context: DirectoryValue, args: Record<string, unknown>): Promise<ContainerState> {
    const dockerfile = cleanRelative(
      typeof args.dockerfile === "string" ? args.dockerfile : "Dockerfile",
    );
    const iidFile = join(await newTree(this.workRoot, "build"), "iid");
    const build = [
      "build",
      "--network",
      "host",
      "--pull=false",
      "-f",
      join(context.path, dockerfile),
      "--iidfile",
      iidFile,
    ];
    for (const arg of (args.buildArgs as { name: string; value: string }[] | undefined) ?? [])
      build.push("--build-arg", `${arg.name}=${arg.value}`);
    if (typeof args.target === "string" && args.target !== "") build.push("--target", args.target);
    build.push(context.path);
    const started = Date.now();
    const result = await this.docker.run(build);
    if (result.exitCode !== 0) {
      throw new Error(
        `dockerBuild ${dockerfile} failed (exit ${result.exitCode}):\n${result.stderr.slice(-4000)}`,
      );
    }
    const image = (await readFile(iidFile, "utf8")).trim();
    this.track(image);
    this.log(
      `dockerBuild ${dockerfile}: ${image.slice(0, 19)} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    // dockerBuild replays the image config as API calls: EXPOSE becomes withExposedPort (health-
    // checked ports) and a CMD becomes withDefaultArgs.
    const config = await inspectConfig(this.docker, image);
    return {
      ...scratch(),
      image,
      config,
      ports: [...config.exposedPorts],
      defaultArgs: config.cmd.length > 0,
    };
  }

  /**
   * The image as it leaves the engine: the filesystem with the state's config written in
   * (env, labels, workdir, user, ports, health check, entrypoint, default args). Secret
   * variables are not config: they never reach an image.
   */
  async final(state: ContainerState): Promise<string> {
    const image = requireImage(state, "publish");
    // A tag to build FROM; it stays until stop(): untagging an image BuildKit made (no parent
    // link to the final image) would delete it while later chains still use it.
    const base = `qgo-exec/fs:${image.replace(/^sha256:/, "").slice(0, 24)}`;
    await this.docker.check(["tag", image, base]);
    this.tags.add(base);
    const c = state.config;
    const lines = [`FROM ${base}`];
    for (const entry of c.env) {
      const at = entry.indexOf("=");
      lines.push(`ENV ${entry.slice(0, at)}=${JSON.stringify(entry.slice(at + 1))}`);
    }
    for (const [name, value] of Object.entries(c.labels))
      lines.push(`LABEL ${JSON.stringify(name)}=${JSON.stringify(value)}`);
    if (c.workdir) lines.push(`WORKDIR ${c.workdir}`);
    if (c.user) lines.push(`USER ${c.user}`);
    for (const port of c.exposedPorts) lines.push(`EXPOSE ${port}/tcp`);
    lines.push(`ENTRYPOINT ${JSON.stringify(c.entrypoint)}`, `CMD ${JSON.stringify(c.cmd)}`);
    const dir = await newTree(this.workRoot, "final");
    await writeFile(join(dir, "Dockerfile"), lines.join("\n") + "\n");
    const iidFile = join(dir, "iid");
    const result = await this.docker.run([
      "build",
      "--network",
      "host",
      "--pull=false",
      "--iidfile",
      iidFile,
      dir,
    ]);
    if (result.exitCode !== 0)
      throw new Error(`writing the image config failed:\n${result.stderr.slice(-3000)}`);
    const final = (await readFile(iidFile, "utf8")).trim();
    this.track(final);
    return final;
  }

  /** The image as a tarball (`docker save`; Dagger writes an OCI layout). */
  async tarball(state: ContainerState): Promise<FileValue> {
    const image = await this.final(state);
    const path = join(await newTree(this.workRoot, "tarball"), "image.tar");
    await this.docker.check(["save", "-o", path, image]);
    return { kind: "File", path };
  }

  /**
   * Pushes the final image to `address` with the registry's credentials, if any, in a
   * throwaway DOCKER_CONFIG; returns `address@sha256:<the registry's manifest digest>`.
   */
  async push(
    state: ContainerState,
    address: string,
    credentials?: { username: string; password: string },
  ): Promise<string> {
    const image = await this.final(state);
    await this.docker.check(["tag", image, address]);
    const config = await mkdtemp(join(tmpdir(), "qgo-exec-auth-"));
    try {
      const host = registryHost(address);
      if (credentials) {
        const auth = Buffer.from(`${credentials.username}:${credentials.password}`).toString(
          "base64",
        );
        await writeFile(
          join(config, "config.json"),
          JSON.stringify({ auths: { [host]: { auth } } }),
          { mode: 0o600 },
        );
      }
      const pushed = await this.docker.run(["push", address], { env: { DOCKER_CONFIG: config } });
      if (pushed.exitCode !== 0)
        throw new Error(`publish ${address} failed: ${pushed.stderr.trim().slice(-2000)}`);
      const digest = /digest: (sha256:[0-9a-f]{64})/.exec(pushed.stdout)?.[1];
      if (!digest)
        throw new Error(`publish ${address}: the registry gave no digest:\n${pushed.stdout}`);
      this.log(`publish ${address}@${digest}`);
      return `${address}@${digest}`;
    } finally {
      await rm(config, { recursive: true, force: true });
      await this.docker.run(["image", "rm", address]);
    }
  }
}

/** True when any file in the tarball (or any nested layer tarball) contains `text`. */
function grepTar(tarball: string, text: string): boolean {
  // tar -xO streams every member's content; layers are tarballs themselves, so their members'
  // bytes appear uncompressed in that stream (docker save writes uncompressed layers).
  const run = spawnSync(
    "sh",
    ["-c", 'tar -xOf "$1" | grep -c -F -a -e "$2"', "grep-tar", tarball, text],
    { encoding: "utf8" },
  );
  return Number(run.stdout.trim() || "0") > 0;
}

/** The registry host of an image address or registry URL ("127.0.0.1:5000/a/b:t" -> "127.0.0.1:5000"). */
export function registryHost(address: string): string {
  const bare = address.replace(/^[a-z]+:\/\//, "");
  const first = bare.split("/")[0]!;
  return bare.includes("/") && /[.:]|^localhost$/.test(first) ? first : "docker.io";
}

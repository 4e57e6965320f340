// The executing engine's evaluator: what the stand-in engine (test/standin/engine.ts) calls
// for each leaf the module asks for (stdout, sync, publish, export, contents, up...). It turns
// the recorded chain behind the leaf into real work on the VPS-in-a-box's Docker engine and
// answers with the real value. Identical chains are evaluated once per run, as the engine's
// cache does (`ci` reuses what `lint` and `test` evaluated).
//
// Base images are the only substitution (IMAGE_TABLE): the box's images are tagged under the
// names the module uses, so `from("node:22-alpine")` and a Dockerfile's `FROM ${NODE_IMAGE}`
// find them without a registry. Commands, files and Dockerfiles are never rewritten.
import { readFile, rm, mkdir, copyFile, cp, mkdtemp, chmod } from "node:fs/promises";
import { createHash } from "node:crypto";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Server } from "node:net";

import { isRef, type Evaluation, type Evaluator, type Step } from "../standin/engine.js";
import {
  absolute,
  ContainerOps,
  inspectConfig,
  scratch,
  uniqueName,
  type ContainerState,
  type ServiceSpec,
} from "./containers.js";
import {
  cleanRelative,
  copyFiltered,
  fileDigest,
  newTree,
  treeDigest,
  writeTreeFile,
  type DirectoryValue,
  type FileValue,
} from "./directories.js";
import { configStep, serviceCommand } from "./config-steps.js";
import { Docker, type DockerTarget } from "./docker.js";
import { runExec, type ExecContext } from "./exec.js";
import { ImageStore, registryHost } from "./images.js";
import { forward, Services } from "./services.js";

/** What the module's default images stand for here: the box's own base images. */
export interface ImageTable {
  [moduleImage: string]: string;
}

export interface ExecutorOptions extends DockerTarget {
  images: ImageTable;
  /** Print progress (each exec, build, push, service) here. */
  log?: (line: string) => void;
}

interface SecretValue {
  kind: "Secret";
  id: string;
  digest?: string;
}
interface CacheValue {
  kind: "CacheVolume";
  volume: string;
  digest?: string;
}
interface HostValue {
  kind: "Host";
  digest?: string;
}
type Value =
  ContainerState | DirectoryValue | FileValue | ServiceSpec | SecretValue | CacheValue | HostValue;

/** The leaves evaluated for real; every other leaf (id, names...) is answered as recorded. */
const EVALUATED = new Set([
  "Container.stdout",
  "Container.stderr",
  "Container.sync",
  "Container.publish",
  "Container.export",
  "Directory.export",
  "File.export",
  "File.contents",
  "Service.up",
  "Service.start",
  "Service.stop",
  "Service.endpoint",
]);

export class Executor implements Evaluator {
  readonly docker: Docker;
  /** How many leaves and execs ran, for the suite's report. */
  readonly counts = { leaves: 0, execs: 0, builds: 0, pushes: 0, cacheHits: 0 };
  private readonly memo = new Map<string, Promise<Value>>();
  private readonly byDigest = new Map<string, Promise<Value>>();
  /** withRegistryAuth's credentials, by registry host, for the whole run (as per session in Dagger). */
  private readonly registryAuth = new Map<string, { username: string; secretId: string }>();
  /**
   * A secret's value by its identity (setSecret's name, secret's URI): the latest one seen wins,
   * as Dagger binds a session's secret handle (name-based) to the latest setSecret value.
   */
  private readonly secretValuesByDigest = new Map<string, string>();
  private ops!: ContainerOps;
  private store!: ImageStore;
  private services!: Services;
  private plaintextOf: (id: string) => string | undefined = () => undefined;
  private workRoot = "";
  private network = "";
  private readonly log: (line: string) => void;

  private constructor(private readonly options: ExecutorOptions) {
    this.docker = new Docker(options);
    this.log = options.log ?? (() => undefined);
  }

  /** Tags the box's images under the module's image names, makes the run's network and work dir. */
  static async start(options: ExecutorOptions): Promise<Executor> {
    const executor = new Executor(options);
    executor.workRoot = await mkdtemp(join(tmpdir(), "qgo-exec-"));
    executor.network = uniqueName("qgo-exec");
    executor.store = new ImageStore(executor.docker, executor.workRoot, executor.log);
    executor.ops = new ContainerOps(executor.docker, (image) => executor.store.track(image));
    await executor.docker.check(["network", "create", executor.network]);
    executor.services = new Services({
      docker: executor.docker,
      network: executor.network,
      secretValues: (state) => executor.secretValues(state),
      readyTimeoutMs: 180_000,
      graceMs: SERVICE_GRACE_MS,
      log: executor.log,
    });
    for (const [name, boxImage] of Object.entries(options.images)) {
      await executor.docker.check(["tag", boxImage, name]);
    }
    return executor;
  }

  /** Stops services, removes the network, the images this run made and the work dir. */
  async stop(): Promise<void> {
    await this.services.stopAll();
    await this.docker.run(["network", "rm", this.network]);
    // The image table's names are only tags of the box's images: untagging leaves those.
    await this.store.removeAll(Object.keys(this.options.images));
    await rm(this.workRoot, { recursive: true, force: true });
  }

  /** How many images this run has made so far (a mark for imagesMentioning). */
  get imageCount(): number {
    return this.store.created.length;
  }

  /**
   * The images this run made (from the `since`-th on) whose config, history or layers contain
   * `text`: a secret's value must be in none.
   */
  imagesMentioning(text: string, since = 0): Promise<string[]> {
    return this.store.mentioning(text, since);
  }

  /** The Docker network the run's services are on. */
  get networkName(): string {
    return this.network;
  }

  /** The declared base image table (the module's name -> the box's image). */
  get images(): ImageTable {
    return { ...this.options.images };
  }

  bindSecrets(plaintextOf: (id: string) => string | undefined): void {
    this.plaintextOf = plaintextOf;
  }

  evaluates(evaluation: Evaluation): boolean {
    return EVALUATED.has(`${evaluation.leaf.type}.${evaluation.leaf.field}`);
  }

  async evaluate(evaluation: Evaluation, signal: AbortSignal): Promise<unknown> {
    this.counts.leaves += 1;
    const { leaf } = evaluation;
    const parent = await this.value(evaluation.chain.slice(0, -1));
    switch (`${leaf.type}.${leaf.field}`) {
      case "Container.stdout":
      case "Container.stderr": {
        const state = parent as ContainerState;
        if (!state.lastExec)
          throw new Error(`${leaf.field}: no command has been executed (call withExec first)`);
        return leaf.field === "stdout" ? state.lastExec.stdout : state.lastExec.stderr;
      }
      case "Container.sync":
        return undefined;
      case "Container.publish":
        return this.publish(parent as ContainerState, String(leaf.args.address));
      case "Container.export": {
        const tarball = await this.store.tarball(parent as ContainerState);
        return this.exportFile(tarball, String(leaf.args.path));
      }
      case "File.export":
        return this.exportFile(parent as FileValue, String(leaf.args.path));
      case "Directory.export": {
        const target = resolve(String(leaf.args.path));
        if (leaf.args.wipe === true) await rm(target, { recursive: true, force: true });
        await mkdir(target, { recursive: true });
        await cp((parent as DirectoryValue).path, target, { recursive: true });
        return target;
      }
      case "File.contents":
        return readFile((parent as FileValue).path, "utf8");
      case "Service.start":
        await this.services.acquire(parent as ServiceSpec);
        return undefined;
      case "Service.stop":
        await this.services.release(parent as ServiceSpec);
        return undefined;
      case "Service.endpoint": {
        const running = await this.services.acquire(parent as ServiceSpec);
        const port = Number(
          leaf.args.port ?? (parent as ServiceSpec).container.config.exposedPorts[0],
        );
        const scheme =
          typeof leaf.args.scheme === "string" && leaf.args.scheme !== ""
            ? `${leaf.args.scheme}://`
            : "";
        return `${scheme}${running.ip}:${port}`;
      }
      case "Service.up":
        return this.up(parent as ServiceSpec, leaf.args, signal);
    }
    throw new Error(`executor: ${leaf.type}.${leaf.field} is not evaluated`);
  }

  /** The value of an object chain, evaluated once per distinct chain. */
  private value(chain: Step[]): Promise<Value> {
    const key = JSON.stringify(chain);
    let pending = this.memo.get(key);
    if (pending) {
      this.counts.cacheHits += 1;
      return pending;
    }
    pending = this.compute(chain).then((value) => this.withDigest(value, chain));
    this.memo.set(key, pending);
    // A failure is not cached: a later identical request runs again (as a failed solve does).
    pending.catch(() => this.memo.delete(key));
    return pending;
  }

  private arg(ref: unknown): Promise<Value> {
    if (!isRef(ref))
      throw new Error(`executor: expected an object argument, got ${JSON.stringify(ref)}`);
    // A secret is identified by how it was made (setSecret's name, secret's URI), never its value.
    if (ref.type === "Secret") {
      const digest = sha256(JSON.stringify(ref.chain));
      const plaintext = this.plaintextOf(ref.ref);
      if (plaintext !== undefined) this.secretValuesByDigest.set(digest, plaintext);
      return Promise.resolve({ kind: "Secret", id: digest, digest });
    }
    return this.value(ref.chain);
  }

  /** Values are content-addressed: directories and files by content, the rest by what made them. */
  private async withDigest(value: Value, chain: Step[]): Promise<Value> {
    if (value.digest) return value;
    switch (value.kind) {
      case "Directory":
        return { ...value, digest: await treeDigest(value.path) };
      case "File":
        return { ...value, digest: await fileDigest(value.path) };
      case "CacheVolume":
        return { ...value, digest: value.volume };
      default:
        return { ...value, digest: sha256(JSON.stringify(chain)) };
    }
  }

  /** The step's digest: its parent's, its name and its arguments (objects by their digests). */
  private async stepDigest(parent: Value, step: Step): Promise<string> {
    const resolve = async (value: unknown): Promise<unknown> => {
      if (isRef(value)) return { digest: (await this.arg(value)).digest };
      if (Array.isArray(value)) return Promise.all(value.map(resolve));
      return value;
    };
    const args: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(step.args)) args[name] = await resolve(value);
    return sha256(JSON.stringify([parent.digest, step.type, step.field, args]));
  }

  /** Work on identical content runs once per run (a failure is not kept), as the engine's cache. */
  private once<T extends Value>(digest: string, work: () => Promise<T>): Promise<T> {
    let pending = this.byDigest.get(digest) as Promise<T> | undefined;
    if (pending) {
      this.counts.cacheHits += 1;
      return pending;
    }
    pending = work().then((value) => ({ ...value, digest }));
    this.byDigest.set(digest, pending);
    pending.catch(() => this.byDigest.delete(digest));
    return pending;
  }

  private async compute(chain: Step[]): Promise<Value> {
    const step = chain[chain.length - 1];
    if (!step) throw new Error("executor: empty chain");
    const args = step.args;
    const at = `${step.type}.${step.field}`;
    // Roots.
    switch (at) {
      case "Query.host":
        return { kind: "Host" };
      case "Query.directory":
        return { kind: "Directory", path: await newTree(this.workRoot, "dir") };
      case "Query.container":
        return { ...scratch(), digest: sha256("scratch") };
      case "Query.cacheVolume":
        return {
          kind: "CacheVolume",
          volume: `qgo-exec-cache-${String(args.key).replace(/[^A-Za-z0-9_.-]/g, "_")}`,
        };
      case "Query.setSecret":
      case "Query.secret":
        throw new Error("executor: a Secret is only used through its ID");
    }
    const parent = await this.value(chain.slice(0, -1));
    switch (at) {
      case "Host.directory": {
        const tree = await newTree(this.workRoot, "host");
        await copyFiltered(String(args.path), tree, {
          exclude: (args.exclude as string[] | undefined) ?? [],
          include: (args.include as string[] | undefined) ?? [],
        });
        return { kind: "Directory", path: tree };
      }
      case "Directory.file": {
        const path = join((parent as DirectoryValue).path, cleanRelative(String(args.path)));
        return { kind: "File", path };
      }
      case "Directory.withNewFile": {
        const tree = await this.copyTree(parent as DirectoryValue);
        await writeTreeFile(
          tree,
          String(args.path),
          String(args.contents),
          (args.permissions as number | undefined) ?? 0o644,
        );
        return { kind: "Directory", path: tree };
      }
      case "Directory.withFile": {
        const tree = await this.copyTree(parent as DirectoryValue);
        const source = (await this.arg(args.source)) as FileValue;
        const target = join(tree, cleanRelative(String(args.path)));
        await mkdir(dirname(target), { recursive: true });
        await copyFile(source.path, target);
        if (typeof args.permissions === "number") await chmod(target, args.permissions);
        return { kind: "Directory", path: tree };
      }
      case "Directory.withDirectory": {
        const tree = await this.copyTree(parent as DirectoryValue);
        const source = (await this.arg(args.source)) as DirectoryValue;
        const target = join(tree, cleanRelative(String(args.path)));
        await mkdir(target, { recursive: true });
        await copyFiltered(source.path, target, {
          include: (args.include as string[] | undefined) ?? [],
          exclude: (args.exclude as string[] | undefined) ?? [],
        });
        return { kind: "Directory", path: tree };
      }
      case "Directory.dockerBuild":
        return this.once(await this.stepDigest(parent, step), () => {
          this.counts.builds += 1;
          return this.store.build(parent as DirectoryValue, args);
        });
      case "Container.asTarball":
        return this.store.tarball(parent as ContainerState);
      case "Container.asService": {
        // One running instance per service digest (its container and command), as Dagger shares them.
        const command = serviceCommand(parent as ContainerState, args);
        const key = sha256(JSON.stringify([parent.digest, command]));
        return { kind: "Service", key, digest: key, container: parent as ContainerState, command };
      }
    }
    if (at === "Container.withDirectory") {
      // Keyed by what is copied (the filtered tree's content), not by the whole source: copying
      // only the lockfiles keeps `npm ci` reused while other files change.
      const state = parent as ContainerState;
      const tree = await this.filtered((await this.arg(args.source)) as DirectoryValue, args);
      const path = absolute(state.config, String(args.path));
      const digest = sha256(JSON.stringify([state.digest, at, path, await treeDigest(tree)]));
      return this.once(digest, () => this.ops.copyIn(state, tree, path));
    }
    if (step.type === "Container") {
      const digest = await this.stepDigest(parent, step);
      return this.once(digest, () => this.containerStep(parent as ContainerState, step));
    }
    throw new Error(`executor: ${at} is not implemented (the module does not use it)`);
  }

  private async containerStep(state: ContainerState, step: Step): Promise<ContainerState> {
    const args = step.args;
    const config = state.config;
    const configured = configStep(state, step);
    if (configured) return configured;
    switch (step.field) {
      case "from": {
        const address = String(args.address);
        const image = await this.docker
          .check(["image", "inspect", "--format", "{{.Id}}", address])
          .catch(() => {
            throw new Error(
              `from(${address}): no such image in the box, and the image table has no entry for it`,
            );
          });
        // The image's EXPOSE is config only: from() adds no port to health-check.
        return {
          ...state,
          image,
          config: await inspectConfig(this.docker, image),
          ports: [],
          defaultArgs: false,
        };
      }
      case "withMountedCache": {
        const cache = (await this.arg(args.cache)) as CacheValue;
        const path = absolute(config, String(args.path));
        return {
          ...state,
          caches: [...state.caches.filter((c) => c.path !== path), { path, volume: cache.volume }],
        };
      }
      case "withSecretVariable": {
        const secret = (await this.arg(args.secret)) as SecretValue;
        const name = String(args.name);
        return {
          ...state,
          secretEnv: [
            ...state.secretEnv.filter((s) => s.name !== name),
            { name, secretId: secret.id },
          ],
        };
      }
      case "withServiceBinding": {
        const service = (await this.arg(args.service)) as ServiceSpec;
        const alias = String(args.alias);
        return {
          ...state,
          bindings: [...state.bindings.filter((b) => b.alias !== alias), { alias, service }],
        };
      }
      case "withRegistryAuth": {
        // Session-wide in Dagger: the credentials apply to every access to that registry host,
        // and the container itself is returned unchanged.
        const secret = (await this.arg(args.secret)) as SecretValue;
        this.registryAuth.set(registryHost(String(args.address)), {
          username: String(args.username),
          secretId: secret.id,
        });
        return state;
      }
      case "withFile": {
        const source = (await this.arg(args.source)) as FileValue;
        return this.ops.copyFileIn(state, source.path, absolute(config, String(args.path)));
      }
      case "withNewFile": {
        const tree = await newTree(this.workRoot, "newfile");
        const name = "file";
        await writeTreeFile(
          tree,
          name,
          String(args.contents),
          (args.permissions as number | undefined) ?? 0o644,
        );
        return this.ops.copyFileIn(state, join(tree, name), absolute(config, String(args.path)));
      }
      case "withExec":
        this.counts.execs += 1;
        return runExec(this.execContext(), state, args);
    }
    throw new Error(
      `executor: Container.${step.field} is not implemented (the module does not use it)`,
    );
  }

  /** Pushes with withRegistryAuth's credentials for the address's registry host, if any. */
  private publish(state: ContainerState, address: string): Promise<string> {
    const credentials = this.registryAuth.get(registryHost(address));
    this.counts.pushes += 1;
    return this.store.push(
      state,
      address,
      credentials && {
        username: credentials.username,
        password: this.secretValuesByDigest.get(credentials.secretId) ?? "",
      },
    );
  }

  private execContext(): ExecContext {
    return {
      docker: this.docker,
      services: this.services,
      secretValues: (state) => this.secretValues(state),
      log: this.log,
      track: (image) => this.store.track(image),
    };
  }

  /** Secret variables' values, for the docker CLI's environment (never its argv, never a config). */
  private secretValues(state: ContainerState): Record<string, string> {
    const values: Record<string, string> = {};
    for (const { name, secretId } of state.secretEnv) {
      const plaintext = this.secretValuesByDigest.get(secretId);
      if (plaintext === undefined)
        throw new Error(`executor: the value of secret variable ${name} is unknown`);
      values[name] = plaintext;
    }
    return values;
  }

  private async exportFile(file: FileValue, path: string): Promise<string> {
    const target = resolve(path);
    await mkdir(dirname(target), { recursive: true });
    await copyFile(file.path, target);
    return target;
  }

  /** Service.up: the service runs and its ports answer on 127.0.0.1 until the caller goes away. */
  private async up(
    spec: ServiceSpec,
    args: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<null> {
    const running = await this.services.acquire(spec);
    const requested = (args.ports as { frontend?: number; backend: number }[] | undefined) ?? [];
    const forwards =
      requested.length > 0
        ? requested
        : spec.container.config.exposedPorts.map((port) => ({ frontend: port, backend: port }));
    const servers: Server[] = [];
    try {
      for (const port of forwards)
        servers.push(await forward(running.ip, port.frontend ?? port.backend, port.backend));
      this.log(
        `up: ${forwards.map((p) => `127.0.0.1:${p.frontend ?? p.backend} -> ${p.backend}`).join(", ")}`,
      );
      await new Promise<void>((ok) =>
        signal.aborted ? ok() : signal.addEventListener("abort", () => ok(), { once: true }),
      );
      return null;
    } finally {
      for (const server of servers) server.close();
      await this.services.release(spec);
    }
  }

  /** The source as withDirectory copies it: the whole tree, or its include/exclude selection. */
  private async filtered(source: DirectoryValue, args: Record<string, unknown>): Promise<string> {
    const include = (args.include as string[] | undefined) ?? [];
    const exclude = (args.exclude as string[] | undefined) ?? [];
    if (include.length === 0 && exclude.length === 0) return source.path;
    const tree = await newTree(this.workRoot, "filtered");
    await copyFiltered(source.path, tree, { include, exclude });
    return tree;
  }

  private async copyTree(directory: DirectoryValue): Promise<string> {
    const tree = await newTree(this.workRoot, "dir");
    await cp(directory.path, tree, { recursive: true, verbatimSymlinks: true });
    return tree;
  }
}

/** Dagger keeps a service whose last client finished for a short while, so the next exec of the chain finds it. */
const SERVICE_GRACE_MS = 10_000;

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

// Bringing the whole box up and down. `bringUp` is what `npm run vps:up` and the vitest
// global setup call; `tearDown` stops everything by PID, unmounts what dockerd mounted,
// deletes the state dir, and reports anything left behind (processes, mounts, ports).
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { resolve } from "node:path";
import { $ } from "zx";
import {
  cacheDir,
  cachePaths,
  composeProjects,
  statePaths,
  v2Migration,
  type AppImages,
  type ReleaseName,
  type VpsBox,
} from "./box.js";
import {
  dockerShell,
  removeAllWorkloads,
  startDockerd,
  startRegistry,
  startSshd,
} from "./daemons.js";
import {
  buildRelease,
  ensureBaseImages,
  ensureRootfsTarball,
  imageSize,
  pushForDigest,
  removeStaleImages,
} from "./images.js";
import { layOutServer, serverLayout } from "./server.js";
import {
  ensureTrixiePlugin,
  ensureHostPackages,
  freeLoopbackPort,
  listeningTcpPorts,
  log,
  mountsUnder,
  processAlive,
  processesUsing,
  stopProcess,
} from "./system.js";

export const repoRoot = resolve(import.meta.dirname, "..", "..", "..");

function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}

interface ActiveBoxPointer {
  stateDir: string;
  /** Who started it: `vps:up` (kept until `vps:down`) or a test run (its own until it ends). */
  owner: "cli" | "test-run";
  ownerPid: number;
}

function readPointer(cache: string): ActiveBoxPointer | null {
  try {
    return JSON.parse(readFileSync(cachePaths(cache).activeBox, "utf8")) as ActiveBoxPointer;
  } catch {
    return null;
  }
}

/** The state dir of the box recorded in the cache (running or not), if any. */
export function recordedBoxStateDir(cache = cacheDir()): string | null {
  return readPointer(cache)?.stateDir ?? null;
}

/** The box that `vps:up` or a test run started and has not stopped, if its dockerd lives. */
export function runningBox(cache = cacheDir()): VpsBox | null {
  const pointer = readPointer(cache);
  if (!pointer) return null;
  try {
    const box = JSON.parse(readFileSync(statePaths(pointer.stateDir).boxJson, "utf8")) as VpsBox;
    return processAlive(box.pids.dockerd) ? box : null;
  } catch {
    return null;
  }
}

/**
 * One box at a time per cache (they share its Docker data root, and dockerd owns docker0):
 * the pointer file `active-box.json`, created exclusively, is the lock. A box recorded there
 * is waited for while it is in use (its starter lives, or `vps:up` left it running until
 * `vps:down`), up to QGO_VPS_WAIT_SECONDS (default 1800); a box whose test run died is torn
 * down by its recorded PIDs and the slot taken over.
 */
async function claimBoxSlot(cache: string, pointer: ActiveBoxPointer): Promise<void> {
  const file = cachePaths(cache).activeBox;
  const waitSeconds = Number(process.env.QGO_VPS_WAIT_SECONDS ?? 1800);
  const deadline = Date.now() + waitSeconds * 1000;
  let unreadableSince = 0;
  let announced = false;
  for (;;) {
    try {
      await writeFile(file, JSON.stringify(pointer), { flag: "wx" });
      return;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
    }
    const current = readPointer(cache);
    if (!current) {
      // Being written right now, or garbage: give a writer a few seconds.
      unreadableSince ||= Date.now();
      if (Date.now() - unreadableSince > 10_000) await rm(file, { force: true });
      await sleep(200);
      continue;
    }
    unreadableSince = 0;
    const box = runningBox(cache);
    const inUse = processAlive(current.ownerPid) || (current.owner === "cli" && box !== null);
    if (!inUse) {
      log(`removing the box a previous run left behind (${current.stateDir})`);
      const left = describeLeftovers(await tearDown(current.stateDir, cache));
      if (left) throw new Error(`Could not clear the box a previous run left behind:\n${left}`);
      await rm(file, { force: true });
      continue;
    }
    const who =
      current.owner === "cli"
        ? "`npm run vps:up` (stop it with `npm run vps:down`)"
        : "another test run";
    if (Date.now() > deadline) {
      throw new Error(
        `Waited ${waitSeconds}s for the VPS box at ${current.stateDir}, started by ${who} ` +
          `(pid ${current.ownerPid}), which shares the cached Docker data root. Stop it and retry.`,
      );
    }
    if (!announced) {
      log(
        `waiting for the VPS box at ${current.stateDir}, started by ${who} (pid ${current.ownerPid}), to stop`,
      );
      announced = true;
    }
    await sleep(3000);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function bringUp(
  options: { repo?: string; cache?: string; owner?: ActiveBoxPointer["owner"] } = {},
): Promise<VpsBox> {
  const started = Date.now();
  // QGO_VPS_REPO: build the app images from another checkout of the product.
  const repo = options.repo ?? process.env.QGO_VPS_REPO ?? repoRoot;
  const cache = options.cache ?? cacheDir();
  const cached = cachePaths(cache);

  await mkdir(cache, { recursive: true });
  const state = await mkdtemp("/tmp/qgo-vps-");
  // The slot first: the cache (apt state, rootfs, data root) is filled by one box at a time.
  const pointer: ActiveBoxPointer = {
    stateDir: state,
    owner: options.owner ?? "test-run",
    ownerPid: process.pid,
  };
  try {
    await claimBoxSlot(cache, pointer);
  } catch (error) {
    await rm(state, { recursive: true, force: true });
    throw error;
  }
  // Not torn down here: they belong to no recorded box, so the user decides.
  const strays = processesUsing([cached.dockerDataRoot]);
  if (strays.length > 0) {
    await rm(cached.activeBox, { force: true });
    await rm(state, { recursive: true, force: true });
    throw new Error(
      `Processes still use the box's Docker data root ${cached.dockerDataRoot}: ` +
        `${strays.map((p) => `${p.pid} (${p.cmdline.slice(0, 80)})`).join("; ")}. Stop them (by PID) and retry.`,
    );
  }
  try {
    let step = Date.now();
    await ensureHostPackages();
    await ensureTrixiePlugin("docker-compose", cached.composePlugin, cached.aptTrixie);
    await ensureTrixiePlugin("docker-buildx", cached.buildxPlugin, cached.aptTrixie);
    const cold = await ensureRootfsTarball(cache);
    log(`installs and cache checks: ${elapsed(step)}`);

    const paths = statePaths(state);
    await mkdir(paths.build, { recursive: true });
    const pids = { dockerd: 0, registry: 0, sshd: 0 };
    const partial = { stateDir: state, cacheDir: cache, pids };
    await writeFile(paths.boxJson, JSON.stringify(partial));

    step = Date.now();
    pids.dockerd = await startDockerd(state, cache, [cached.composePlugin, cached.buildxPlugin]);
    await writeFile(paths.boxJson, JSON.stringify(partial));
    await removeAllWorkloads(state);
    const registryPort = await freeLoopbackPort();
    pids.registry = await startRegistry(state, cache, registryPort);
    await writeFile(paths.boxJson, JSON.stringify(partial));
    const sshPort = await freeLoopbackPort([registryPort]);
    const sshd = await startSshd(state, sshPort);
    pids.sshd = sshd.pid;
    await writeFile(paths.boxJson, JSON.stringify(partial));
    const registry = `127.0.0.1:${registryPort}`;
    log(`dockerd, registry ${registry}, sshd 127.0.0.1:${sshPort}: ${elapsed(step)}`);

    step = Date.now();
    const bases = await ensureBaseImages(state, cache);
    log(`base images (${bases.built ? "built" : "cached"}): ${elapsed(step)}`);
    step = Date.now();
    const dbRemote = `${registry}/qgo-vps/mariadb:10.11`;
    await dockerShell(state)`docker tag ${bases.images.db} ${dbRemote}`;
    const dbImage = await pushForDigest(state, dbRemote);
    // The edge runs the frontend's nginx base (with its stream module), as servers run
    // nginx:1.27-alpine: pulled by digest from the registry like every other image.
    const edgeRemote = `${registry}/qgo-vps/nginx:edge`;
    await dockerShell(state)`docker tag ${bases.images.nginx} ${edgeRemote}`;
    const edgeImage = await pushForDigest(state, edgeRemote);
    const certbotRemote = `${registry}/qgo-vps/certbot:debian`;
    await dockerShell(state)`docker tag ${bases.images.certbot} ${certbotRemote}`;
    const certbotImage = await pushForDigest(state, certbotRemote);

    const gitCommit =
      (await $({ quiet: true, cwd: repo, nothrow: true })`git rev-parse HEAD`).stdout.trim() ||
      "unknown";
    const buildOptions = { state, repoRoot: repo, registry, bases: bases.images, gitCommit };
    // v1 first: v2 and v3 reuse its layers (same lockfiles, same dependencies).
    const v1 = await buildRelease(buildOptions, "v1");
    const [v2, v3] = await Promise.all([
      buildRelease(buildOptions, "v2"),
      buildRelease(buildOptions, "v3"),
    ]);
    const images: Record<ReleaseName, AppImages> = { v1: v1.images, v2: v2.images, v3: v3.images };
    await removeStaleImages(state, registry, [
      bases.images.minbase,
      bases.images.debian,
      bases.images.node,
      bases.images.nginx,
      bases.images.db,
      bases.images.certbot,
      ...v1.localTags,
      ...v2.localTags,
      ...v3.localTags,
    ]);
    log(`app images v1, v2, v3 built and pushed: ${elapsed(step)}`);

    const used = [registryPort, sshPort];
    // Free ports rather than the product's defaults (5001/8080, 5000/80/443): the box must
    // not collide with other servers on a shared machine. `.env` sets them; the compose files'
    // defaults are what real servers use.
    const pick = async () => {
      const port = await freeLoopbackPort(used);
      used.push(port);
      return port;
    };
    const ports = {
      staging: { backend: await pick(), frontend: await pick() },
      production: { backend: await pick(), frontend: await pick(), https: await pick() },
    };
    const layout = serverLayout(paths.serverRoot);
    await layOutServer(layout, { dbImage, edgeImage, ...ports });

    const imageSizes: Record<string, number> = {};
    for (const [name, ref] of Object.entries({
      "base debian": bases.images.debian,
      "base node": bases.images.node,
      "base nginx": bases.images.nginx,
      "db (mariadb)": bases.images.db,
      "backend v1": images.v1.backend,
      "frontend v1": images.v1.frontend,
    })) {
      imageSizes[name] = await imageSize(state, ref);
    }

    const box: VpsBox = {
      stateDir: state,
      cacheDir: cache,
      sshHost: "127.0.0.1",
      sshPort,
      sshUser: "root",
      privateKeyPath: paths.clientKey,
      knownHostsLine: sshd.knownHostsLine,
      hostKeys: sshd.hostKeys,
      pauseDir: paths.pauseDir,
      knownHostsPath: paths.knownHosts,
      dockerHost: `unix://${paths.dockerSocket}`,
      dockerConfigDir: paths.dockerConfig,
      registry,
      dbImage,
      edgeImage,
      certbotImage,
      baseImages: { node: bases.images.node, nginx: bases.images.nginx, db: bases.images.db },
      images,
      v2Migration: { ...v2Migration },
      ...layout,
      ports,
      projects: { ...composeProjects },
      pids,
      listeningPorts: [sshPort, registryPort],
      startedAt: new Date(started).toISOString(),
      startupSeconds: Math.round((Date.now() - started) / 100) / 10,
      cold: cold || bases.built,
      imageSizes,
    };
    await writeFile(paths.boxJson, JSON.stringify(box, null, 2));
    log(
      `box up in ${box.startupSeconds}s (${box.cold ? "cold" : "warm"} start); description: ${paths.boxJson}`,
    );
    for (const [name, size] of Object.entries(imageSizes))
      log(`  image ${name}: ${(size / 1e6).toFixed(0)} MB`);
    return box;
  } catch (error) {
    log(`start failed, tearing down: ${(error as Error).message.split("\n")[0]}`);
    await tearDown(state, cache);
    throw error;
  }
}

export interface Leftovers {
  processes: { pid: number; cmdline: string }[];
  mounts: string[];
  ports: number[];
}

/** Ports the box owned: its daemons' and the ones compose publishes on the server. */
function boxPorts(box: Partial<VpsBox>): number[] {
  const ports = [...(box.listeningPorts ?? [])];
  if (box.ports) {
    ports.push(box.ports.staging.backend, box.ports.staging.frontend);
    ports.push(
      box.ports.production.backend,
      box.ports.production.frontend,
      box.ports.production.https,
    );
  }
  return ports;
}

export function leftovers(
  box: Partial<VpsBox> & { stateDir: string; cacheDir: string },
): Leftovers {
  const watched = [box.stateDir, cachePaths(box.cacheDir).dockerDataRoot];
  const pids = Object.values(box.pids ?? {}).filter((pid) => pid > 0);
  const processes = [
    ...pids.filter(processAlive).map((pid) => ({ pid, cmdline: "(a daemon the box started)" })),
    ...processesUsing(watched),
  ];
  const listening = listeningTcpPorts();
  return {
    processes,
    mounts: mountsUnder(watched),
    ports: boxPorts(box).filter((port) => listening.has(port)),
  };
}

/** Descendants of `pid` (children first listed last), from /proc/<pid>/stat. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      /* gone */
    }
  }
  const result: number[] = [];
  const visit = (parent: number) => {
    for (const child of children.get(parent) ?? []) {
      result.push(child);
      visit(child);
    }
  };
  visit(pid);
  return result;
}

/**
 * Stop the box of `state`: remove its containers (so nothing restarts with the cached data
 * root), stop sshd (and open sessions), the registry and dockerd by PID, kill what is left
 * by PID, unmount, delete the state dir. Safe to call twice. Returns what is left (nothing).
 */
export async function tearDown(state: string, cache = cacheDir()): Promise<Leftovers> {
  const started = Date.now();
  const paths = statePaths(state);
  let box: Partial<VpsBox> & { stateDir: string; cacheDir: string } = {
    stateDir: state,
    cacheDir: cache,
  };
  if (existsSync(paths.boxJson)) {
    try {
      box = { ...box, ...(JSON.parse(readFileSync(paths.boxJson, "utf8")) as Partial<VpsBox>) };
    } catch {
      /* half-written description: fall back to pid files */
    }
  }
  const pidFromFile = (file: string) => {
    try {
      return Number(readFileSync(file, "utf8").trim()) || 0;
    } catch {
      return 0;
    }
  };
  const pids = {
    dockerd: box.pids?.dockerd || pidFromFile(paths.dockerPid),
    registry: box.pids?.registry || pidFromFile(paths.registryPid),
    sshd: box.pids?.sshd || pidFromFile(paths.sshdPid),
  };
  box.pids = pids;

  if (pids.sshd && processAlive(pids.sshd)) {
    const sessions = descendants(pids.sshd);
    await stopProcess(pids.sshd);
    for (const pid of sessions.reverse()) await stopProcess(pid, 5_000);
  }
  if (pids.registry) {
    await stopProcess(pids.registry);
    // Manifests that no tag points to any more (earlier builds of v1..v3) are deleted, so
    // the registry storage in the cache does not grow with every change of the sources.
    if (existsSync(paths.registryConfig)) {
      await $({
        nothrow: true,
        quiet: true,
      })`docker-registry garbage-collect --delete-untagged ${paths.registryConfig}`;
    }
  }
  if (pids.dockerd && processAlive(pids.dockerd)) {
    try {
      await removeAllWorkloads(state);
    } catch (error) {
      log(
        `could not remove the containers before stopping dockerd: ${(error as Error).message.split("\n")[0]}`,
      );
    }
    await stopProcess(pids.dockerd, 60_000);
  }
  // containerd shims and anything else still working in the box's dirs, by PID.
  for (const stray of processesUsing([state, cachePaths(cache).dockerDataRoot])) {
    log(`stopping leftover process ${stray.pid}: ${stray.cmdline.slice(0, 100)}`);
    await stopProcess(stray.pid, 5_000);
  }
  for (const mount of mountsUnder([state, cachePaths(cache).dockerDataRoot]).reverse()) {
    const result = await $({ nothrow: true, quiet: true })`umount ${mount}`;
    if (result.exitCode !== 0) await $({ nothrow: true, quiet: true })`umount -l ${mount}`;
  }
  const left = leftovers(box);
  if (left.processes.length === 0 && left.mounts.length === 0) {
    await rm(state, { recursive: true, force: true });
  }
  const pointer = cachePaths(cache).activeBox;
  if (existsSync(pointer)) {
    try {
      if ((JSON.parse(readFileSync(pointer, "utf8")) as { stateDir: string }).stateDir === state)
        await rm(pointer);
    } catch {
      await rm(pointer, { force: true });
    }
  }
  log(`box at ${state} torn down in ${elapsed(started)}`);
  return left;
}

export function describeLeftovers(left: Leftovers): string {
  return [
    ...left.processes.map((p) => `process ${p.pid}: ${p.cmdline}`),
    ...left.mounts.map((m) => `mount ${m}`),
    ...left.ports.map((p) => `listening port 127.0.0.1:${p}`),
  ].join("\n");
}

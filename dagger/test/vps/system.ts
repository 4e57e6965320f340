// Host-level pieces of the box: idempotent installs, Compose v2 from trixie, daemons started
// by PID, free loopback ports, and the checks teardown uses (processes, mounts, ports).
import { spawn } from "node:child_process";
import {
  existsSync,
  openSync,
  closeSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  statSync,
} from "node:fs";
import { mkdir, copyFile, chmod, rm, readdir, rename, writeFile } from "node:fs/promises";
import { createServer, connect } from "node:net";
import { dirname, join } from "node:path";
import { $ } from "zx";

export function log(message: string): void {
  process.stderr.write(`[vps] ${message}\n`);
}

/** Debian packages the box runs on this (bookworm) host. */
export const hostPackages = ["docker.io", "docker-registry", "openssh-server", "debootstrap"];

async function isInstalled(pkg: string): Promise<boolean> {
  const result = await $({ nothrow: true, quiet: true })`dpkg-query -W -f=${"${Status}"} ${pkg}`;
  return result.exitCode === 0 && result.stdout.includes("install ok installed");
}

/** apt-get install what is missing; nothing when everything is there (no apt-get update). */
export async function ensureHostPackages(): Promise<void> {
  const missing: string[] = [];
  for (const pkg of hostPackages) if (!(await isInstalled(pkg))) missing.push(pkg);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `The VPS box needs root to install ${missing.join(", ")} (run as root, or install them first).`,
    );
  }
  log(`installing from Debian: ${missing.join(" ")}`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  await $({ env, quiet: true })`apt-get update -qq`;
  // policy-rc.d or no systemd: Debian's maintainer scripts must not start the system's own
  // dockerd/sshd; the box runs private ones.
  await $({ env, quiet: true })`apt-get install -y -qq --no-install-recommends ${missing}`;
}

/** The Debian mirror the system's own sources use (so the box asks no other host). */
export function debianMirror(): string {
  const sources = "/etc/apt/sources.list.d/debian.sources";
  if (existsSync(sources)) {
    const match = /^URIs:\s*(\S+)/m.exec(readFileSync(sources, "utf8"));
    if (match?.[1] && !match[1].includes("security")) return match[1];
  }
  if (existsSync("/etc/apt/sources.list")) {
    const match = /^deb\s+(?:\[[^\]]*\]\s+)?(\S+)\s+bookworm\s/m.exec(
      readFileSync("/etc/apt/sources.list", "utf8"),
    );
    if (match?.[1]) return match[1];
  }
  return "http://deb.debian.org/debian";
}

/**
 * Docker CLI plugins from Debian trixie: Compose v2 (bookworm only has the Python v1) and
 * buildx (BuildKit builds, as Dagger's dockerBuild does them; bookworm has none). Fetched with
 * a private apt configuration (own sources list, lists and cache dirs) so the system's sources
 * stay as they are; the Go binaries run on bookworm's glibc. Cached at `pluginPath`.
 */
export async function ensureTrixiePlugin(
  pkg: "docker-compose" | "docker-buildx",
  pluginPath: string,
  aptDir: string,
): Promise<void> {
  if (existsSync(pluginPath)) return;
  log(`fetching the ${pkg} CLI plugin from Debian trixie with a private apt config`);
  const lists = join(aptDir, "lists");
  const cache = join(aptDir, "cache");
  const download = join(aptDir, `download-${pkg}`);
  await mkdir(join(lists, "partial"), { recursive: true });
  await mkdir(join(cache, "archives", "partial"), { recursive: true });
  await rm(download, { recursive: true, force: true });
  await mkdir(download, { recursive: true });
  const sourceList = join(aptDir, "sources.list");
  await writeFile(
    sourceList,
    `deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] ${debianMirror()} trixie main\n`,
  );
  const aptOptions = [
    ...["-o", `Dir::Etc::sourcelist=${sourceList}`, "-o", "Dir::Etc::sourceparts=/dev/null"],
    ...[
      "-o",
      `Dir::State::Lists=${lists}`,
      "-o",
      `Dir::Cache=${cache}`,
      "-o",
      "Debug::NoLocking=1",
    ],
  ];
  // Lists younger than a day are reused (both plugins are fetched in one cold start).
  const listsFresh = (await readdir(lists)).some(
    (name) =>
      name.endsWith("_Packages") && Date.now() - statSync(join(lists, name)).mtimeMs < 86_400_000,
  );
  if (!listsFresh) await $({ quiet: true })`apt-get ${aptOptions} update -qq`;
  await $({ quiet: true, cwd: download })`apt-get ${aptOptions} download ${pkg}`;
  const debs = (await readdir(download)).filter((name) => name.endsWith(".deb"));
  if (debs.length !== 1 || !debs[0])
    throw new Error(`apt-get download ${pkg} gave ${debs.join(", ") || "nothing"}`);
  const extracted = join(download, "extracted");
  await $({ quiet: true })`dpkg-deb -x ${join(download, debs[0])} ${extracted}`;
  await mkdir(dirname(pluginPath), { recursive: true });
  const tmp = `${pluginPath}.partial`;
  await copyFile(join(extracted, "usr/libexec/docker/cli-plugins", pkg), tmp);
  await chmod(tmp, 0o755);
  await $({ quiet: true })`${tmp} version`;
  await rename(tmp, pluginPath);
  await rm(download, { recursive: true, force: true });
}

/**
 * A TCP port free on 127.0.0.1 now, picked at random in 20000-32767: below Linux's ephemeral
 * range (so no outgoing connection holds it) and away from the well-known ports other
 * servers on a shared machine use (a product default like 8080 may be taken any moment).
 */
export async function freeLoopbackPort(avoid: number[] = []): Promise<number> {
  const tryPort = (port: number) =>
    new Promise<boolean>((resolve) => {
      const server = createServer();
      server.once("error", () => resolve(false));
      server.listen({ host: "127.0.0.1", port, exclusive: true }, () =>
        server.close(() => resolve(true)),
      );
    });
  for (let attempt = 0; attempt < 200; attempt += 1) {
    const port = 20000 + Math.floor(Math.random() * 12768);
    if (avoid.includes(port) || listeningTcpPorts().has(port)) continue;
    if (await tryPort(port)) return port;
  }
  throw new Error("no free TCP port on 127.0.0.1 between 20000 and 32767");
}

/** True when something accepts TCP connections on 127.0.0.1:port. */
export function portIsListening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    socket.setTimeout(1000);
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("timeout", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Start a daemon detached from this process (it outlives `vps:up`), output to a log file. */
export function startDaemon(
  command: string,
  args: string[],
  logFile: string,
  env?: NodeJS.ProcessEnv,
): number {
  const fd = openSync(logFile, "a");
  const child = spawn(command, args, {
    detached: true,
    stdio: ["ignore", fd, fd],
    env: env ?? process.env,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`could not start ${command}`);
  child.unref();
  return child.pid;
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
  } catch {
    return false;
  }
}

export async function waitFor(
  what: string,
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  explain: () => string = () => "",
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline)
      throw new Error(`Timed out after ${timeoutMs / 1000}s waiting for ${what}. ${explain()}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** SIGTERM a process, wait for it to exit, SIGKILL it after `graceMs`. */
export async function stopProcess(pid: number, graceMs = 20_000): Promise<void> {
  if (!processAlive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (processAlive(pid) && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  if (processAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* already gone */
    }
    while (processAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export function tailFile(path: string, lines = 20): string {
  try {
    return readFileSync(path, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "";
  }
}

/** Processes whose command line, cwd or executable mention any of `paths`. */
export function processesUsing(paths: string[]): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    if (pid === process.pid) continue;
    let cmdline = "";
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ").trim();
    } catch {
      continue;
    }
    let cwd = "";
    try {
      cwd = readlinkSync(`/proc/${pid}/cwd`);
    } catch {
      /* kernel thread or gone */
    }
    if (isZombie(pid)) continue;
    if (
      paths.some((path) => cmdline.includes(path) || cwd === path || cwd.startsWith(`${path}/`))
    ) {
      found.push({ pid, cmdline });
    }
  }
  return found;
}

/** Mount points at or below any of `paths` (from /proc/self/mountinfo, unescaped). */
export function mountsUnder(paths: string[]): string[] {
  const mountinfo = readFileSync("/proc/self/mountinfo", "utf8");
  const points = mountinfo
    .split("\n")
    .filter(Boolean)
    .map((line) =>
      (line.split(" ")[4] ?? "").replace(/\\([0-7]{3})/g, (_, octal: string) =>
        String.fromCharCode(parseInt(octal, 8)),
      ),
    );
  return points.filter((point) =>
    paths.some((path) => point === path || point.startsWith(`${path}/`)),
  );
}

/** TCP ports in LISTEN state on this host (IPv4 and IPv6), from /proc/net/tcp*. */
export function listeningTcpPorts(): Set<number> {
  const ports = new Set<number>();
  for (const file of ["/proc/net/tcp", "/proc/net/tcp6"]) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields[3] === "0A" && fields[1]) ports.add(parseInt(fields[1].split(":")[1] ?? "0", 16));
    }
  }
  return ports;
}

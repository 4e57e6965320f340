// The box's three daemons, each private to one state dir and bound to loopback:
// dockerd (own data root in the cache, own exec root and socket in the state dir),
// the registry (distribution 2.8, storage in the cache) and sshd (generated keys).
import { existsSync, readFileSync } from "node:fs";
import { copyFile, chmod, mkdir, writeFile } from "node:fs/promises";
import { basename, join } from "node:path";
import { $ } from "zx";
import { cachePaths, statePaths } from "./box.js";
import { log, portIsListening, processAlive, startDaemon, tailFile, waitFor } from "./system.js";

export interface DockerEnv {
  DOCKER_HOST: string;
  DOCKER_CONFIG: string;
}

export function dockerEnv(state: string): DockerEnv {
  const paths = statePaths(state);
  return { DOCKER_HOST: `unix://${paths.dockerSocket}`, DOCKER_CONFIG: paths.dockerConfig };
}

/** zx `$` bound to the box's dockerd (and its Compose plugin). */
export function dockerShell(state: string, options: { quiet?: boolean } = {}) {
  return $({ env: { ...process.env, ...dockerEnv(state) }, quiet: options.quiet ?? true });
}

/** 10.N.0.0/16 with N in 200..249 from the cache dir's path: stable per cache. */
function addressPool(cache: string): string {
  let hash = 0;
  for (const char of cache) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return `10.${200 + (hash % 50)}.0.0/16`;
}

export async function startDockerd(
  state: string,
  cache: string,
  cliPlugins: string[],
): Promise<number> {
  const paths = statePaths(state);
  const cached = cachePaths(cache);
  await mkdir(cached.dockerDataRoot, { recursive: true });
  await mkdir(paths.dockerExecRoot, { recursive: true });
  await mkdir(`${paths.dockerConfig}/cli-plugins`, { recursive: true });
  for (const plugin of cliPlugins) {
    const target = join(paths.dockerConfig, "cli-plugins", basename(plugin));
    await copyFile(plugin, target);
    await chmod(target, 0o755);
  }
  const pid = startDaemon(
    "dockerd",
    [
      "--data-root",
      cached.dockerDataRoot,
      "--exec-root",
      paths.dockerExecRoot,
      "--host",
      `unix://${paths.dockerSocket}`,
      "--pidfile",
      paths.dockerPid,
      // Containers stop with the daemon: the box never leaves anything running.
      "--live-restore=false",
      // No default docker0 bridge (builds use the host network, compose makes its own
      // networks), and compose networks from a pool of this cache's own, so the box does not
      // collide with another Docker engine on the machine.
      "--bridge=none",
      "--default-address-pool",
      `base=${addressPool(cache)},size=24`,
    ],
    paths.dockerLog,
  );
  const docker = dockerShell(state);
  await waitFor(
    "dockerd to answer",
    async () => {
      if (!processAlive(pid))
        throw new Error(`dockerd exited at start:\n${tailFile(paths.dockerLog)}`);
      return (
        (await docker({ nothrow: true })`docker version --format {{.Server.Version}}`).exitCode ===
        0
      );
    },
    60_000,
    () => tailFile(paths.dockerLog),
  );
  return pid;
}

/**
 * A previous run that died half way may have left containers, networks or volumes in the
 * persistent data root; with `restart: unless-stopped` they would even come back. The box
 * starts from an empty server every time.
 */
export async function removeAllWorkloads(state: string): Promise<void> {
  const docker = dockerShell(state);
  const containers = (await docker`docker ps -aq`).stdout.split("\n").filter(Boolean);
  if (containers.length > 0) await docker`docker rm -f -v ${containers}`;
  const volumes = (await docker`docker volume ls -q`).stdout.split("\n").filter(Boolean);
  if (volumes.length > 0) await docker`docker volume rm -f ${volumes}`;
  await docker`docker network prune -f`;
}

export async function startRegistry(state: string, cache: string, port: number): Promise<number> {
  const paths = statePaths(state);
  const storage = cachePaths(cache).registryStorage;
  await mkdir(storage, { recursive: true });
  await writeFile(
    paths.registryConfig,
    [
      "version: 0.1",
      "log:",
      "  level: warn",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${JSON.stringify(storage)}`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: 127.0.0.1:${port}`,
      "",
    ].join("\n"),
  );
  const pid = startDaemon("docker-registry", ["serve", paths.registryConfig], paths.registryLog);
  await waitFor(
    `the registry on 127.0.0.1:${port}`,
    async () => {
      if (!processAlive(pid))
        throw new Error(`docker-registry exited at start:\n${tailFile(paths.registryLog)}`);
      try {
        return (await fetch(`http://127.0.0.1:${port}/v2/`)).status === 200;
      } catch {
        return false;
      }
    },
    30_000,
    () => tailFile(paths.registryLog),
  );
  return pid;
}

export interface SshdInfo {
  pid: number;
  knownHostsLine: string;
  hostKeys: { ed25519: string; ecdsa: string; rsa: string; ca: string };
}

export async function startSshd(state: string, port: number): Promise<SshdInfo> {
  const paths = statePaths(state);
  await mkdir(paths.sshDir, { recursive: true, mode: 0o700 });
  // Host keys of the three types a stock sshd has, and a CA that signs the ed25519 one.
  for (const [key, type, comment] of [
    [paths.hostKey, "ed25519", "qgo-vps-host"],
    [paths.hostEcdsaKey, "ecdsa", "qgo-vps-host"],
    [paths.hostRsaKey, "rsa", "qgo-vps-host"],
    [paths.hostCaKey, "ed25519", "qgo-vps-host-ca"],
    [paths.clientKey, "ed25519", "qgo-vps-client"],
  ] as const) {
    if (!existsSync(key))
      await $({ quiet: true })`ssh-keygen -q -t ${type} -N ${""} -C ${comment} -f ${key}`;
  }
  const hostCertificate = `${paths.hostKey}-cert.pub`;
  if (!existsSync(hostCertificate))
    await $({
      quiet: true,
    })`ssh-keygen -q -s ${paths.hostCaKey} -I qgo-vps-host -h -n 127.0.0.1,localhost ${paths.hostKey}.pub`;
  await copyFile(`${paths.clientKey}.pub`, paths.authorizedKeys);
  const publicKey = (path: string) =>
    readFileSync(`${path}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  const hostKeys = {
    ed25519: publicKey(paths.hostKey),
    ecdsa: publicKey(paths.hostEcdsaKey),
    rsa: publicKey(paths.hostRsaKey),
    ca: publicKey(paths.hostCaKey),
  };
  const hostPublicKey = hostKeys.ed25519.split(" ");
  const knownHostsLine = `[127.0.0.1]:${port} ${hostPublicKey[0]} ${hostPublicKey[1]}`;
  await writeFile(paths.knownHosts, `${knownHostsLine}\n`);
  const env = dockerEnv(state);
  // Test hook, inert unless a test asks: bash reads BASH_ENV before running a non-interactive
  // script, so a step's remote bash (QGO_STEP in its environment) waits at its start while
  // <pauseDir>/<step> exists, after touching <pauseDir>/<step>.reached. The interrupted-
  // operation tests kill the deploying client there, then let the step run on without it.
  await mkdir(paths.pauseDir, { recursive: true });
  await writeFile(
    paths.pauseHook,
    [
      `if [ -n "\${QGO_STEP:-}" ] && [ -e "${paths.pauseDir}/$QGO_STEP" ]; then`,
      `  : > "${paths.pauseDir}/$QGO_STEP.reached"`,
      `  while [ -e "${paths.pauseDir}/$QGO_STEP" ]; do sleep 0.05; done`,
      `fi`,
      "",
    ].join("\n"),
  );
  await writeFile(
    paths.sshdConfig,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${paths.hostKey}`,
      `HostKey ${paths.hostEcdsaKey}`,
      `HostKey ${paths.hostRsaKey}`,
      `HostCertificate ${hostCertificate}`,
      `AuthorizedKeysFile ${paths.authorizedKeys}`,
      `PidFile ${paths.sshdPid}`,
      "AllowUsers root",
      "PermitRootLogin prohibit-password",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      // The keys live in the throwaway state dir, not in ~/.ssh.
      "StrictModes no",
      "UsePAM no",
      "PrintMotd no",
      "Subsystem sftp internal-sftp",
      // Remote sessions drive the box's dockerd and its Compose plugin, like on a real server.
      `SetEnv DOCKER_HOST=${env.DOCKER_HOST} DOCKER_CONFIG=${env.DOCKER_CONFIG} BASH_ENV=${paths.pauseHook}`,
      "",
    ].join("\n"),
  );
  // sshd refuses to start without its privilege separation dir (the service unit makes it).
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });
  await $({ quiet: true })`/usr/sbin/sshd -t -f ${paths.sshdConfig}`;
  const pid = startDaemon("/usr/sbin/sshd", ["-D", "-e", "-f", paths.sshdConfig], paths.sshdLog);
  await waitFor(
    `sshd on 127.0.0.1:${port}`,
    async () => {
      if (!processAlive(pid)) throw new Error(`sshd exited at start:\n${tailFile(paths.sshdLog)}`);
      return portIsListening(port);
    },
    15_000,
    () => tailFile(paths.sshdLog),
  );
  log(`sshd known_hosts line: ${knownHostsLine}`);
  return { pid, knownHostsLine, hostKeys };
}

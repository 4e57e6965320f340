// Runs the image's nginx configuration (frontend/nginx.conf, frontend/nginx/*.conf and
// docker-entrypoint.sh) in a real nginx on 127.0.0.1, under a scratch prefix. Only what ties
// the files to a container is rewritten for the test, each rewrite checked to apply exactly
// once: listen ports, the web root, Docker's DNS address (-> a stub) and the resolver's
// re-check interval (10 s -> 1 s, so a change is seen quickly). The backend's address is given
// to docker-entrypoint.sh through QGO_BACKEND, as a deployment would.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  chmodSync,
  closeSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer, type AddressInfo } from "node:net";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";

export const FRONTEND_DIR = resolve(import.meta.dirname, "../..");
export const ENTRYPOINT = join(FRONTEND_DIR, "docker-entrypoint.sh");

export function findNginx(): string {
  const candidates = [
    ...(process.env.PATH ?? "").split(delimiter).map((dir) => join(dir, "nginx")),
    "/usr/sbin/nginx",
  ];
  const found = candidates.find((path) => path.startsWith("/") && existsSync(path));
  if (!found) {
    throw new Error(
      "nginx is not installed, and these tests run the real server against frontend/nginx.conf. " +
        "Install it (Debian: `apt-get install -y nginx-light`) and run the tests again.",
    );
  }
  return found;
}

export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo;
      server.close(() => resolvePort(port));
    });
  });
}

/** Builds the dashboard with the project's Vite config into `outDir`. */
export function buildDist(outDir: string): void {
  const require = createRequire(import.meta.url);
  const viteBin = join(dirname(require.resolve("vite/package.json")), "bin", "vite.js");
  const result = spawnSync(
    process.execPath,
    [viteBin, "build", "--outDir", outDir, "--emptyOutDir", "--logLevel", "error"],
    { cwd: FRONTEND_DIR, encoding: "utf8" },
  );
  if (result.status !== 0) {
    throw new Error(`vite build failed (exit ${result.status}):\n${result.stdout}${result.stderr}`);
  }
}

function replaceOnce(text: string, from: string, to: string, file: string): string {
  const count = text.split(from).length - 1;
  if (count !== 1) {
    throw new Error(
      `${file}: expected "${from}" exactly once (found ${count}); the nginx test harness must follow the config's change.`,
    );
  }
  return text.replace(from, () => to);
}

// /etc/nginx/nginx.conf of the official nginx image (1.27), which the image build uses by
// default; `user nginx;` is left out because that account does not exist on this machine.
const OFFICIAL_IMAGE_MAIN_CONF = `worker_processes  auto;
error_log  /var/log/nginx/error.log notice;
pid        /run/nginx.pid;
events {
    worker_connections  1024;
}
http {
    include       /etc/nginx/mime.types;
    default_type  application/octet-stream;
    log_format  main  '$remote_addr - $remote_user [$time_local] "$request" '
                      '$status $body_bytes_sent "$http_referer" '
                      '"$http_user_agent" "$http_x_forwarded_for"';
    access_log  /var/log/nginx/access.log  main;
    sendfile        on;
    keepalive_timeout  65;
    include /etc/nginx/conf.d/*.conf;
}
`;

export type MainConfig = "debian" | "official-image";

export interface SiteOptions {
  distDir: string;
  mainConfig: MainConfig;
  dnsPort: number;
}

export interface Site {
  prefix: string;
  confDir: string;
  mainConf: string;
  httpPort: number;
  httpsPort: number;
  remove(): void;
}

/** Lays out /etc/nginx and the web root the way the image does, under a scratch prefix. */
export async function prepareSite(options: SiteOptions): Promise<Site> {
  const prefix = mkdtempSync(join(tmpdir(), "qgo-nginx-"));
  // Worker processes (www-data under Debian's config) must reach the web root.
  chmodSync(prefix, 0o755);
  const confDir = join(prefix, "etc");
  const logs = join(prefix, "logs");
  mkdirSync(logs);
  const httpPort = await freePort();
  const httpsPort = await freePort();

  const systemNginx = "/etc/nginx";
  if (!existsSync(join(systemNginx, "mime.types"))) {
    throw new Error(
      "/etc/nginx/mime.types is missing: install Debian's nginx (`apt-get install -y nginx-light`).",
    );
  }
  let main: string;
  if (options.mainConfig === "debian") {
    // Debian's own main file, as the Debian-based image has it (its default site removed).
    cpSync(systemNginx, confDir, { recursive: true, verbatimSymlinks: true });
    for (const dir of ["sites-enabled", "conf.d"]) {
      rmSync(join(confDir, dir), { recursive: true, force: true });
      mkdirSync(join(confDir, dir));
    }
    main = readFileSync(join(systemNginx, "nginx.conf"), "utf8");
  } else {
    mkdirSync(join(confDir, "conf.d"), { recursive: true });
    cpSync(join(systemNginx, "mime.types"), join(confDir, "mime.types"));
    main = OFFICIAL_IMAGE_MAIN_CONF;
  }
  main = main
    .replaceAll("/etc/nginx/", `${confDir}/`)
    .replaceAll("/var/log/nginx/", `${logs}/`)
    .replace(/^\s*pid\s+\S+;/m, `pid ${join(prefix, "nginx.pid")};`);
  const mainConf = join(confDir, "nginx.conf");
  writeFileSync(mainConf, main);

  const siteConf = replaceOnce(
    readFileSync(join(FRONTEND_DIR, "nginx.conf"), "utf8"),
    "listen 80;",
    `listen 127.0.0.1:${httpPort};`,
    "nginx.conf",
  );
  writeFileSync(join(confDir, "conf.d", "default.conf"), siteConf);

  const qgoDir = join(confDir, "qgo");
  mkdirSync(qgoDir);
  const rewrites: Record<string, [string, string][]> = {
    "app.conf": [["root /usr/share/nginx/html;", `root ${join(prefix, "html")};`]],
    "backend-docker-dns.conf": [
      ["resolver 127.0.0.11 valid=10s", `resolver 127.0.0.1:${options.dnsPort} valid=1s`],
    ],
    "tls-server.conf": [["listen 443 ssl;", `listen 127.0.0.1:${httpsPort} ssl;`]],
    "acme-challenge.conf": [["root /var/www/certbot;", `root ${join(prefix, "acme")};`]],
  };
  for (const file of readdirSync(join(FRONTEND_DIR, "nginx"))) {
    let text = readFileSync(join(FRONTEND_DIR, "nginx", file), "utf8");
    for (const [from, to] of rewrites[file] ?? []) text = replaceOnce(text, from, to, file);
    writeFileSync(join(qgoDir, file), text);
  }
  cpSync(options.distDir, join(prefix, "html"), { recursive: true });
  mkdirSync(join(prefix, "acme"));

  return {
    prefix,
    confDir,
    mainConf,
    httpPort,
    httpsPort,
    remove: () => rmSync(prefix, { recursive: true, force: true }),
  };
}

export interface CommandResult {
  status: number | null;
  output: string;
}

/** Runs docker-entrypoint.sh against the site, with `command` in place of nginx. */
export function runEntrypoint(
  site: Site,
  env: Record<string, string>,
  command: string[] = ["true"],
): CommandResult {
  const result = spawnSync("sh", [ENTRYPOINT, ...command], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", NGINX_CONF_DIR: site.confDir, ...env },
    encoding: "utf8",
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/**
 * nginx's stdout and stderr go to a file: the config logs to /dev/stdout as in the image, and
 * opening /dev/stdout fails (ENXIO) on the socket pairs Node uses for a child's pipes.
 */
function outputFile(site: Site, name: string): { path: string; fd: number } {
  const path = join(site.prefix, `${name}.out`);
  return { path, fd: openSync(path, "w") };
}

export function nginxConfigTest(site: Site): CommandResult {
  const out = outputFile(site, "nginx-t");
  try {
    const result = spawnSync(findNginx(), ["-t", "-c", site.mainConf], {
      stdio: ["ignore", out.fd, out.fd],
    });
    return { status: result.status, output: readFileSync(out.path, "utf8") };
  } finally {
    closeSync(out.fd);
  }
}

export interface RunningNginx {
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts nginx on the site; given `entrypointEnv`, through docker-entrypoint.sh as the image
 * does (which execs nginx, so the process is nginx's master either way).
 */
export async function startNginx(
  site: Site,
  entrypointEnv?: Record<string, string>,
): Promise<RunningNginx> {
  const out = outputFile(site, "nginx");
  const nginxArgs = ["-c", site.mainConf, "-g", "daemon off;"];
  const child: ChildProcess = entrypointEnv
    ? spawn("sh", [ENTRYPOINT, findNginx(), ...nginxArgs], {
        stdio: ["ignore", out.fd, out.fd],
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          NGINX_CONF_DIR: site.confDir,
          ...entrypointEnv,
        },
      })
    : spawn(findNginx(), nginxArgs, { stdio: ["ignore", out.fd, out.fd] });
  closeSync(out.fd);
  const output = () => readFileSync(out.path, "utf8");
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));

  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited at start:\n${output()}`);
    try {
      const probe = await fetchRaw({ port: site.httpPort, path: "/nginx-health" });
      if (probe.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(
        `nginx did not answer on 127.0.0.1:${site.httpPort} within 10 s:\n${output()}`,
      );
    }
    await new Promise((wait) => setTimeout(wait, 50));
  }

  return {
    output,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
        await exited;
        clearTimeout(timer);
      }
    },
  };
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  text: string;
}

/** One HTTP(S) request without redirects, decompression or certificate checks. */
export function fetchRaw(options: {
  port: number;
  path: string;
  method?: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  tlsServername?: string;
}): Promise<RawResponse> {
  return new Promise((resolveResponse, reject) => {
    const common = {
      host: "127.0.0.1",
      port: options.port,
      path: options.path,
      method: options.method ?? "GET",
      headers: options.headers,
      agent: false as const,
    };
    const onResponse = (response: import("node:http").IncomingMessage) => {
      const chunks: Buffer[] = [];
      response.on("data", (chunk: Buffer) => chunks.push(chunk));
      response.on("end", () => {
        const body = Buffer.concat(chunks);
        resolveResponse({
          status: response.statusCode ?? 0,
          headers: response.headers,
          body,
          text: body.toString("utf8"),
        });
      });
      response.on("error", reject);
    };
    const req = options.tlsServername
      ? httpsRequest(
          { ...common, servername: options.tlsServername, rejectUnauthorized: false },
          onResponse,
        )
      : httpRequest(common, onResponse);
    req.setTimeout(10_000, () => req.destroy(new Error(`timeout on ${options.path}`)));
    req.on("error", reject);
    req.end(options.body);
  });
}

/** A self-signed certificate laid out like Let's Encrypt's live/<domain>/ directory. */
export function makeLetsEncryptDir(root: string, domain: string): string {
  const live = join(root, "live", domain);
  mkdirSync(live, { recursive: true });
  selfSignedCertificate(join(live, "privkey.pem"), join(live, "fullchain.pem"), `/CN=${domain}`);
  return root;
}

/** A self-signed certificate (its own CA, valid a day), optionally with subjectAltName. */
export function selfSignedCertificate(
  keyFile: string,
  certFile: string,
  subject: string,
  altNames?: string,
): void {
  const result = spawnSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-days",
      "1",
      "-subj",
      subject,
      ...(altNames ? ["-addext", `subjectAltName=${altNames}`] : []),
      "-keyout",
      keyFile,
      "-out",
      certFile,
    ],
    { encoding: "utf8" },
  );
  if (result.status !== 0) {
    throw new Error(
      `openssl could not make a test certificate (install Debian's openssl):\n${result.stderr}`,
    );
  }
}

// @vitest-environment node
// The image's nginx setup, run for real: frontend/nginx.conf + frontend/nginx/*.conf under
// Debian's and the official image's main nginx.conf, switched by docker-entrypoint.sh, with a
// stub backend and a stub of Docker's DNS on 127.0.0.1. The backend is found either through
// that DNS stub (QGO_BACKEND_RESOLVER=docker-dns, Docker Compose) or through /etc/hosts at start
// (QGO_BACKEND_RESOLVER=system, Dagger services). Needs Debian's nginx-light and openssl.
import { createServer, type Server } from "node:http";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDnsStub, type DnsStub } from "./support/dnsStub";
import {
  FRONTEND_DIR,
  buildDist,
  fetchRaw,
  freePort,
  makeLetsEncryptDir,
  nginxConfigTest,
  prepareSite,
  runEntrypoint,
  startNginx,
  type RunningNginx,
  type Site,
} from "./support/nginxHarness";

interface StubBackend {
  close(): Promise<void>;
}

/** Answers every request with what it received, naming itself, so proxying is visible. */
function startStubBackend(name: string, host: string, port: number): Promise<StubBackend> {
  const server: Server = createServer((req, res) => {
    let bytes = 0;
    req.on("data", (chunk: Buffer) => (bytes += chunk.length));
    req.on("end", () => {
      const body = JSON.stringify({
        backend: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        bodyBytes: bytes,
      });
      // /health answers like the real backend with its database down: nginx must pass it on.
      res.writeHead(req.url === "/health" ? 503 : 200, { "Content-Type": "application/json" });
      res.end(body);
    });
  });
  return new Promise((resolveStart, reject) => {
    server.once("error", reject);
    server.listen(port, host, () =>
      resolveStart({
        close: () =>
          new Promise((resolveClose) => {
            server.closeAllConnections();
            server.close(() => resolveClose());
          }),
      }),
    );
  });
}

interface Echo {
  backend: string;
  method: string;
  url: string;
  headers: Record<string, string>;
  bodyBytes: number;
}

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "strict-origin-when-cross-origin",
};

let distDir: string;
let dns: DnsStub;
let backendPort: number;
let scratch: string;

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "qgo-nginx-test-"));
  distDir = join(scratch, "dist");
  buildDist(distDir);
  dns = await startDnsStub();
  backendPort = await freePort();
}, 60_000);

afterAll(async () => {
  await dns?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

function hashedScript(): string {
  const name = readdirSync(join(distDir, "assets")).find((file) => /^index-.+\.js$/.test(file));
  if (!name) throw new Error("the build produced no hashed index-*.js");
  return `/assets/${name}`;
}

describe.each<"debian" | "official-image">(["debian", "official-image"])(
  "nginx -t with the %s main nginx.conf",
  (mainConfig) => {
    it("accepts the plain-HTTP and the HTTPS setup", async () => {
      const site = await prepareSite({ distDir, mainConfig, dnsPort: dns.port });
      try {
        // The file as shipped in the image, before the entrypoint ran.
        expect(nginxConfigTest(site)).toMatchObject({ status: 0 });

        const plain = runEntrypoint(site, {});
        expect(plain.status).toBe(0);
        expect(nginxConfigTest(site)).toMatchObject({ status: 0 });

        const letsencrypt = makeLetsEncryptDir(join(site.prefix, "letsencrypt"), "cargo.test");
        const tls = runEntrypoint(site, { TLS_DOMAIN: "cargo.test", LETSENCRYPT_DIR: letsencrypt });
        expect(tls.output).toContain("HTTPS enabled for cargo.test");
        const check = nginxConfigTest(site);
        expect(check.output).toContain("test is successful");
        expect(check.status).toBe(0);

        // The backend resolved at start through the system resolver (localhost is in /etc/hosts).
        const system = runEntrypoint(site, {
          TLS_DOMAIN: "cargo.test",
          LETSENCRYPT_DIR: letsencrypt,
          QGO_BACKEND_RESOLVER: "system",
          QGO_BACKEND: "localhost:5000",
        });
        expect(system.status).toBe(0);
        expect(nginxConfigTest(site)).toMatchObject({ status: 0 });
      } finally {
        site.remove();
      }
    }, 30_000);
  },
);

describe("docker-entrypoint.sh", () => {
  let site: Site;
  beforeAll(async () => {
    site = await prepareSite({ distDir, mainConfig: "debian", dnsPort: dns.port });
  });
  afterAll(() => site?.remove());

  const backendConf = () => readFileSync(join(site.confDir, "qgo", "backend.conf"), "utf8");

  it("by default proxies to backend:5000 through Docker's DNS, exactly as the image ships it", () => {
    runEntrypoint(site, { QGO_BACKEND_RESOLVER: "system", QGO_BACKEND: "localhost:5001" });
    const result = runEntrypoint(site, {});
    expect(result.status).toBe(0);
    expect(result.output).toContain(
      "to backend:5000, resolved at every request through Docker's DNS",
    );
    const written = backendConf();
    expect(written).toBe(readFileSync(join(FRONTEND_DIR, "nginx", "backend.conf"), "utf8"));
    expect(written).toContain('set $qgo_backend "http://backend:5000";');
    expect(written).toContain("include qgo/backend-docker-dns.conf;");
    expect(written).not.toContain("proxy_pass http://");
  });

  it("QGO_BACKEND_RESOLVER=system writes a literal proxy_pass to QGO_BACKEND, with no resolver", () => {
    const result = runEntrypoint(site, {
      QGO_BACKEND_RESOLVER: "system",
      QGO_BACKEND: "localhost:5001",
    });
    expect(result.status).toBe(0);
    expect(result.output).toContain(
      "to localhost:5001, resolved once at start through the system resolver",
    );
    const written = backendConf();
    expect(written).toContain("proxy_pass http://localhost:5001;");
    expect(written).not.toContain("backend-docker-dns.conf");
    expect(written).not.toContain("$qgo_backend");
    expect(nginxConfigTest(site)).toMatchObject({ status: 0 });
  });

  it.each([
    "http://backend:5000",
    "backend",
    "backend:",
    ":5000",
    "backend:0",
    "backend:05000",
    "backend:65536",
    "backend:5000/api",
    "backend:5000:5001",
    "[::1]:5000",
    "back end:5000",
    "-backend:5000",
    "backend.:5000",
    'backend:5000"; include /etc/passwd; #',
  ])("refuses QGO_BACKEND=%s, says how to fix it, and changes no file", (value) => {
    const written = ["backend.conf", "http-mode.conf"].map((file) =>
      join(site.confDir, "qgo", file),
    );
    for (const file of written) writeFileSync(file, "# left by the previous start\n");
    const result = runEntrypoint(site, { QGO_BACKEND: value, QGO_BACKEND_RESOLVER: "system" });
    expect(result.status).toBe(64);
    expect(result.output).toContain(`QGO_BACKEND='${value}' is not host:port`);
    expect(result.output).toContain("e.g. QGO_BACKEND=backend:5000");
    for (const file of written) {
      expect(readFileSync(file, "utf8")).toBe("# left by the previous start\n");
    }
    expect(runEntrypoint(site, {}).status).toBe(0); // leave the site valid for the next test
  });

  it("accepts the largest port, IPv4 addresses and compose-style names with underscores", () => {
    for (const value of ["backend:65535", "10.0.0.7:5000", "qgo_backend.internal:1"]) {
      const result = runEntrypoint(site, { QGO_BACKEND: value });
      expect(result).toMatchObject({ status: 0 });
      expect(backendConf()).toContain(`set $qgo_backend "http://${value}";`);
    }
  });

  it("refuses an unknown QGO_BACKEND_RESOLVER and names both modes", () => {
    for (const value of ["dns", "System", "docker"]) {
      const result = runEntrypoint(site, { QGO_BACKEND_RESOLVER: value });
      expect(result.status).toBe(64);
      expect(result.output).toContain(`QGO_BACKEND_RESOLVER='${value}' is not a known mode`);
      expect(result.output).toContain("Use docker-dns (the default");
      expect(result.output).toContain("or system (");
    }
  });

  it("serves plain HTTP when TLS_DOMAIN has no certificate, and drops an old TLS block", () => {
    const letsencrypt = makeLetsEncryptDir(join(site.prefix, "le-ok"), "cargo.test");
    expect(
      runEntrypoint(site, { TLS_DOMAIN: "cargo.test", LETSENCRYPT_DIR: letsencrypt }).status,
    ).toBe(0);
    expect(readdirSync(join(site.confDir, "qgo", "enabled"))).toEqual(["tls.conf"]);

    const result = runEntrypoint(site, {
      TLS_DOMAIN: "other.test",
      LETSENCRYPT_DIR: join(site.prefix, "empty"),
    });
    expect(result.status).toBe(0);
    expect(result.output).toContain("No certificate at");
    expect(readdirSync(join(site.confDir, "qgo", "enabled"))).toEqual([]);
    expect(readFileSync(join(site.confDir, "qgo", "http-mode.conf"), "utf8")).toContain(
      "include qgo/app.conf;",
    );
  });

  it("refuses a TLS_DOMAIN that is not a host name, and says how to fix it", () => {
    const result = runEntrypoint(site, { TLS_DOMAIN: "cargo.test; include /etc/passwd" });
    expect(result.status).toBe(64);
    expect(result.output).toContain("is not a host name");
    expect(result.output).toContain("TLS_DOMAIN=cargo.example.com");
  });

  it("refuses a certificate without its private key", () => {
    const letsencrypt = makeLetsEncryptDir(join(site.prefix, "le-nokey"), "cargo.test");
    rmSync(join(letsencrypt, "live", "cargo.test", "privkey.pem"));
    const result = runEntrypoint(site, { TLS_DOMAIN: "cargo.test", LETSENCRYPT_DIR: letsencrypt });
    expect(result.status).toBe(64);
    expect(result.output).toContain("privkey.pem does not");
  });

  it("runs the given command once set up", () => {
    const result = runEntrypoint(site, {}, ["sh", "-c", "echo started with $#:$1", "_", "arg one"]);
    expect(result).toMatchObject({ status: 0 });
    expect(result.output).toContain("started with 1:arg one");
  });
});

describe("nginx serving the dashboard over plain HTTP", () => {
  let site: Site;
  let nginx: RunningNginx;
  let backendA: StubBackend;
  let backendB: StubBackend | undefined;

  beforeAll(async () => {
    dns.set("backend", "127.0.0.1");
    backendA = await startStubBackend("A", "127.0.0.1", backendPort);
    site = await prepareSite({ distDir, mainConfig: "debian", dnsPort: dns.port });
    expect(runEntrypoint(site, { QGO_BACKEND: `backend:${backendPort}` }).status).toBe(0);
    nginx = await startNginx(site);
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await backendA?.close();
    await backendB?.close();
    site?.remove();
  });

  const get = (path: string, headers: Record<string, string> = {}) =>
    fetchRaw({ port: site.httpPort, path, headers });

  it("serves index.html with no-cache and the security headers", async () => {
    const response = await get("/");
    expect(response.status).toBe(200);
    expect(response.text).toContain('<div id="root"></div>');
    expect(response.headers["cache-control"]).toBe("no-cache");
    expect(response.headers).toMatchObject(SECURITY_HEADERS);
    expect(response.headers["content-security-policy"]).toContain("frame-ancestors 'none'");
    expect(response.headers["strict-transport-security"]).toBeUndefined();
    expect(response.headers.server).toBe("nginx");
  });

  it("falls back to index.html for client-side routes", async () => {
    const index = readFileSync(join(distDir, "index.html"), "utf8");
    const response = await get("/shipments/42?tab=documents");
    expect(response.status).toBe(200);
    expect(response.text).toBe(index);
    expect(response.headers["cache-control"]).toBe("no-cache");
  });

  it("caches hashed assets for a year, gzipped on request, and 404s missing ones", async () => {
    const script = hashedScript();
    const response = await get(script, { "Accept-Encoding": "gzip" });
    expect(response.status).toBe(200);
    expect(response.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(response.headers["content-type"]).toMatch(/javascript/);
    expect(response.headers["content-encoding"]).toBe("gzip");
    expect(response.headers.vary).toMatch(/Accept-Encoding/i);
    expect(response.headers).toMatchObject(SECURITY_HEADERS);
    expect(gunzipSync(response.body).toString("utf8")).toBe(
      readFileSync(join(distDir, script), "utf8"),
    );

    const missing = await get("/assets/index-doesnotexist.js");
    expect(missing.status).toBe(404);
    expect(missing.text).not.toContain('<div id="root">');
  });

  it("proxies /api with the original URI and forwarding headers", async () => {
    const response = await get("/api/shipments?status=IN_TRANSIT&search=a%20b&page=2", {
      Host: "cargo.test",
    });
    expect(response.status).toBe(200);
    const echo = JSON.parse(response.text) as Echo;
    expect(echo).toMatchObject({
      backend: "A",
      method: "GET",
      url: "/api/shipments?status=IN_TRANSIT&search=a%20b&page=2",
    });
    expect(echo.headers).toMatchObject({
      host: "cargo.test",
      "x-forwarded-for": "127.0.0.1",
      "x-forwarded-proto": "http",
      "x-real-ip": "127.0.0.1",
    });
  });

  it("passes uploads larger than nginx's 1 MB default to the backend", async () => {
    const body = Buffer.alloc(5 * 1024 * 1024, 7);
    const response = await fetchRaw({
      port: site.httpPort,
      path: "/api/shipments/1/documents",
      method: "POST",
      headers: { "Content-Type": "application/octet-stream" },
      body,
    });
    expect(response.status).toBe(200);
    expect((JSON.parse(response.text) as Echo).bodyBytes).toBe(body.length);
  });

  it("passes the backend's own /health answer through, 503 included", async () => {
    const response = await get("/health");
    expect(response.status).toBe(503);
    expect(JSON.parse(response.text)).toMatchObject({ backend: "A", url: "/health" });
  });

  it("finds a recreated backend at its new address without a restart", async () => {
    const before = dns.queries("backend");
    backendB = await startStubBackend("B", "127.0.0.2", backendPort);
    dns.set("backend", "127.0.0.2");
    await backendA.close();

    // The resolver re-checks after `valid` (1 s in this test, 10 s in the image).
    const deadline = Date.now() + 5000;
    let echo: Echo | undefined;
    while (Date.now() < deadline) {
      const response = await get("/api/shipments");
      if (response.status === 200) {
        echo = JSON.parse(response.text) as Echo;
        if (echo.backend === "B") break;
      }
      await new Promise((wait) => setTimeout(wait, 200));
    }
    expect(echo?.backend).toBe("B");
    expect(dns.queries("backend")).toBeGreaterThan(before);
  }, 10_000);

  it("answers in the API's error format while the backend is gone", async () => {
    dns.set("backend", null); // container removed: Docker's DNS says NXDOMAIN
    // nginx's clock has 1 s granularity, so the 1 s cache entry lives up to 2 s.
    const deadline = Date.now() + 5000;
    let response = await get("/api/shipments");
    while (response.status !== 502 && Date.now() < deadline) {
      await new Promise((wait) => setTimeout(wait, 200));
      response = await get("/api/shipments");
    }
    expect(response.status).toBe(502);
    expect(response.headers["content-type"]).toMatch(/application\/json/);
    expect(JSON.parse(response.text)).toEqual({
      error: "The QGO API is not reachable right now. Please try again in a moment.",
    });
    // The dashboard itself stays up.
    expect((await get("/")).status).toBe(200);
  }, 10_000);
});

describe("nginx with QGO_BACKEND_RESOLVER=system: a backend name only /etc/hosts knows, as under Dagger", () => {
  // Dagger writes a withServiceBinding alias into the container's /etc/hosts only; here
  // `localhost` (in /etc/hosts, unknown to the DNS stub) plays that alias.
  let port: number;
  let backend: StubBackend | undefined;
  let systemSite: Site;
  let dockerDnsSite: Site;
  let systemNginx: RunningNginx;
  let dockerDnsNginx: RunningNginx;

  beforeAll(async () => {
    port = await freePort();
    backend = await startStubBackend("S", "127.0.0.1", port);
    systemSite = await prepareSite({ distDir, mainConfig: "official-image", dnsPort: dns.port });
    const system = runEntrypoint(systemSite, {
      QGO_BACKEND_RESOLVER: "system",
      QGO_BACKEND: `localhost:${port}`,
    });
    expect(system.status).toBe(0);
    systemNginx = await startNginx(systemSite);
    dockerDnsSite = await prepareSite({ distDir, mainConfig: "debian", dnsPort: dns.port });
    expect(runEntrypoint(dockerDnsSite, { QGO_BACKEND: `localhost:${port}` }).status).toBe(0);
    dockerDnsNginx = await startNginx(dockerDnsSite);
  }, 30_000);

  afterAll(async () => {
    await systemNginx?.stop();
    await dockerDnsNginx?.stop();
    await backend?.close();
    systemSite?.remove();
    dockerDnsSite?.remove();
  });

  it("proxies /api and /health to the backend found through /etc/hosts, never asking nginx's resolver", async () => {
    const before = dns.queries("localhost");
    const api = await fetchRaw({
      port: systemSite.httpPort,
      path: "/api/shipments?page=2",
      headers: { Host: "cargo.test" },
    });
    expect(api.status).toBe(200);
    const echo = JSON.parse(api.text) as Echo;
    expect(echo).toMatchObject({ backend: "S", method: "GET", url: "/api/shipments?page=2" });
    expect(echo.headers).toMatchObject({ host: "cargo.test", "x-forwarded-proto": "http" });

    const health = await fetchRaw({ port: systemSite.httpPort, path: "/health" });
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ backend: "S", url: "/health" });
    expect(dns.queries("localhost")).toBe(before);
  });

  it("the default docker-dns mode cannot find that name (Docker's DNS does not read /etc/hosts)", async () => {
    const before = dns.queries("localhost");
    const response = await fetchRaw({ port: dockerDnsSite.httpPort, path: "/api/shipments" });
    expect(response.status).toBe(502);
    expect(JSON.parse(response.text)).toEqual({
      error: "The QGO API is not reachable right now. Please try again in a moment.",
    });
    expect(dns.queries("localhost")).toBeGreaterThan(before);
  });

  it("answers in the API's error format while the backend is down; the dashboard stays up", async () => {
    await backend?.close();
    backend = undefined;
    const response = await fetchRaw({ port: systemSite.httpPort, path: "/api/shipments" });
    expect(response.status).toBe(502);
    expect(response.headers["content-type"]).toMatch(/application\/json/);
    expect(JSON.parse(response.text)).toEqual({
      error: "The QGO API is not reachable right now. Please try again in a moment.",
    });
    expect((await fetchRaw({ port: systemSite.httpPort, path: "/" })).status).toBe(200);
  });

  it("nginx refuses to start when the backend's name does not resolve at start, naming it", async () => {
    const site = await prepareSite({ distDir, mainConfig: "debian", dnsPort: dns.port });
    try {
      const setup = runEntrypoint(site, {
        QGO_BACKEND_RESOLVER: "system",
        QGO_BACKEND: "qgo-no-such-backend.invalid:5000",
      });
      expect(setup.status).toBe(0);
      const check = nginxConfigTest(site);
      expect(check.status).not.toBe(0);
      expect(check.output).toContain('host not found in upstream "qgo-no-such-backend.invalid');
      expect(check.output).toContain("qgo/backend.conf");
    } finally {
      site.remove();
    }
  }, 30_000);
});

describe("nginx with a mounted certificate (HTTPS)", () => {
  let site: Site;
  let nginx: RunningNginx;
  let backend: StubBackend;

  beforeAll(async () => {
    dns.set("backend", "127.0.0.1");
    backend = await startStubBackend("A", "127.0.0.1", backendPort);
    site = await prepareSite({
      distDir,
      mainConfig: "official-image",
      dnsPort: dns.port,
    });
    const letsencrypt = makeLetsEncryptDir(join(site.prefix, "letsencrypt"), "cargo.test");
    expect(
      runEntrypoint(site, {
        TLS_DOMAIN: "cargo.test",
        LETSENCRYPT_DIR: letsencrypt,
        QGO_BACKEND: `backend:${backendPort}`,
      }).status,
    ).toBe(0);
    nginx = await startNginx(site);
  }, 30_000);

  afterAll(async () => {
    await nginx?.stop();
    await backend?.close();
    site?.remove();
  });

  it("serves the dashboard over HTTPS with HSTS", async () => {
    const response = await fetchRaw({
      port: site.httpsPort,
      path: "/shipments/7",
      tlsServername: "cargo.test",
      headers: { Host: "cargo.test" },
    });
    expect(response.status).toBe(200);
    expect(response.text).toContain('<div id="root"></div>');
    expect(response.headers["strict-transport-security"]).toBe(
      "max-age=31536000; includeSubDomains",
    );
    expect(response.headers).toMatchObject(SECURITY_HEADERS);

    const api = await fetchRaw({
      port: site.httpsPort,
      path: "/api/shipments",
      tlsServername: "cargo.test",
      headers: { Host: "cargo.test" },
    });
    expect((JSON.parse(api.text) as Echo).headers["x-forwarded-proto"]).toBe("https");
  });

  it("redirects plain HTTP to HTTPS but keeps /health and ACME challenges on HTTP", async () => {
    const redirect = await fetchRaw({
      port: site.httpPort,
      path: "/shipments/7?x=1",
      headers: { Host: "cargo.test" },
    });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe("https://cargo.test/shipments/7?x=1");

    const health = await fetchRaw({ port: site.httpPort, path: "/health" });
    expect(health.status).toBe(503);
    expect(JSON.parse(health.text)).toMatchObject({ backend: "A" });

    const challenge = await fetchRaw({
      port: site.httpPort,
      path: "/.well-known/acme-challenge/token123",
    });
    expect(challenge.status).toBe(404); // served from /var/www/certbot, not redirected
  });
});

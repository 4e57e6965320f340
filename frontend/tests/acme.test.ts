// @vitest-environment node
// Certificates from a real ACME server, through the image's own nginx setup: Pebble (Let's
// Encrypt's ACME test server, Debian package `pebble`) with pebble-challtestsrv as its DNS
// (every name resolves to 127.0.0.1 unless a test says otherwise), certbot (Debian package)
// with --webroot into the directory the frontend serves /.well-known/acme-challenge/ from, and
// nginx started through docker-entrypoint.sh, whose watcher turns HTTPS on when a certificate
// appears and reloads nginx gracefully when it is renewed. Only the ACME server stands in for
// Let's Encrypt; Pebble's CA is trusted by the test's client alone.
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import type { TLSSocket } from "node:tls";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildDist,
  fetchRaw,
  freePort,
  prepareSite,
  selfSignedCertificate,
  startNginx,
  type RunningNginx,
  type Site,
} from "./support/nginxHarness";

for (const tool of ["pebble", "pebble-challtestsrv", "certbot", "openssl"]) {
  if (spawnSync("sh", ["-c", `command -v ${tool}`]).status !== 0) {
    throw new Error(
      `${tool} is not installed; these tests run Let's Encrypt's ACME test server and certbot for real. ` +
        "Install them (Debian: `apt-get install -y pebble certbot openssl`) and run the tests again.",
    );
  }
}

const DOMAIN = "qgo.test";
const NAMES = [DOMAIN, `www.${DOMAIN}`];

let scratch: string;
let site: Site;
let nginx: RunningNginx;
let letsencrypt: string;
let acmeCa: string; // Pebble's own HTTPS certificate (self-signed, made here)
let pebbleRoot: string; // the CA Pebble issues from (new at every Pebble start)
let acmePort: number;
let challtestPort: number;
const daemons: ChildProcess[] = [];

/** Starts a daemon with its output in a file; resolves once `ready` answers. */
async function startDaemon(
  name: string,
  command: string,
  args: string[],
  env: Record<string, string>,
  ready: () => Promise<boolean>,
): Promise<void> {
  const outPath = join(scratch, `${name}.out`);
  const fd = openSync(outPath, "w");
  const child = spawn(command, args, {
    stdio: ["ignore", fd, fd],
    env: { ...process.env, ...env },
  });
  closeSync(fd);
  daemons.push(child);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`${name} exited:\n${readFileSync(outPath, "utf8")}`);
    if (await ready().catch(() => false)) return;
    if (Date.now() > deadline)
      throw new Error(`${name} did not start in 15 s:\n${readFileSync(outPath, "utf8")}`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

interface TlsAnswer {
  status: number;
  body: string;
  serial: string;
  altNames: string;
}

/** One HTTPS request on a fresh connection, verified against `ca` for `servername`. */
function httpsGet(port: number, servername: string, ca: string, path = "/"): Promise<TlsAnswer> {
  return new Promise((resolveGet, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port,
        path,
        servername,
        ca,
        agent: false,
        timeout: 2000,
        headers: { Host: servername },
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () =>
          resolveGet({
            status: res.statusCode ?? 0,
            body,
            serial: cert.serialNumber ?? "",
            altNames: cert.subjectaltname ?? "",
          }),
        );
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  ms = 15_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} within ${ms} ms (last: ${String(last)})\n${nginx.output()}`);
    await new Promise((wait) => setTimeout(wait, 100));
  }
}

/** certbot, run without blocking (the request loops go on meanwhile); resolves when it exits. */
function certbot(args: string[]): Promise<{ status: number | null; output: string }> {
  const dirs = [
    "--config-dir",
    letsencrypt,
    "--work-dir",
    join(scratch, "certbot-work"),
    "--logs-dir",
    join(scratch, "certbot-logs"),
  ];
  return new Promise((done) => {
    let output = "";
    const child = spawn("certbot", [...args, ...dirs, "--non-interactive"], {
      env: { ...process.env, REQUESTS_CA_BUNDLE: acmeCa },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.on("close", (status) => {
      clearTimeout(timer);
      done({ status, output });
    });
  });
}

function obtain(names: string[], certName: string) {
  return certbot([
    "certonly",
    "--webroot",
    "-w",
    join(site.prefix, "acme"),
    ...names.flatMap((name) => ["-d", name]),
    "--cert-name",
    certName,
    "--server",
    `https://127.0.0.1:${acmePort}/dir`,
    "--agree-tos",
    "-m",
    `ops@${DOMAIN}`,
    "--no-eff-email",
  ]);
}

/** Requests on fresh connections every 20 ms (HTTPS for both names, and HTTP) until stopped. */
function requestLoop() {
  const failures: string[] = [];
  let sent = 0;
  let running = true;
  const serials = new Set<string>();
  const done = (async () => {
    while (running) {
      sent += 3;
      const results = await Promise.allSettled([
        ...NAMES.map((name) => httpsGet(site.httpsPort, name, pebbleRoot)),
        fetchRaw({ port: site.httpPort, path: "/nginx-health" }),
      ]);
      for (const result of results) {
        if (result.status === "rejected") failures.push(String(result.reason));
        else if (result.value.status !== 200) failures.push(`status ${result.value.status}`);
        else if ("serial" in result.value) serials.add(result.value.serial);
      }
      await new Promise((wait) => setTimeout(wait, 20));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return { failures, sent, serials };
    },
  };
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), "qgo-acme-test-"));
  letsencrypt = join(scratch, "letsencrypt");
  mkdirSync(letsencrypt);
  const distDir = join(scratch, "dist");
  buildDist(distDir);
  site = await prepareSite({ distDir, mainConfig: "official-image", dnsPort: await freePort() });

  // Pebble's own HTTPS listener needs a certificate for 127.0.0.1: a self-signed one, which
  // certbot and this test's client trust (it is its own CA).
  const ca = join(scratch, "ca");
  mkdirSync(ca);
  acmeCa = join(ca, "cert.pem");
  selfSignedCertificate(join(ca, "key.pem"), acmeCa, "/CN=127.0.0.1", "IP:127.0.0.1");

  const dnsPort = await freePort();
  challtestPort = await freePort();
  await startDaemon(
    "challtestsrv",
    "pebble-challtestsrv",
    [
      "-defaultIPv4",
      "127.0.0.1",
      "-defaultIPv6",
      "",
      "-dns01",
      `127.0.0.1:${dnsPort}`,
      "-http01",
      "",
      "-https01",
      "",
      "-tlsalpn01",
      "",
      "-management",
      `127.0.0.1:${challtestPort}`,
    ],
    {},
    async () => (await fetch(`http://127.0.0.1:${challtestPort}/`)).status > 0,
  );
  acmePort = await freePort();
  const managementPort = await freePort();
  writeFileSync(
    join(scratch, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: join(ca, "cert.pem"),
        privateKey: join(ca, "key.pem"),
        // HTTP-01 is validated on the port the site serves plain HTTP on.
        httpPort: site.httpPort,
        tlsPort: await freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
      },
    }),
  );
  const caText = readFileSync(acmeCa, "utf8");
  await startDaemon(
    "pebble",
    "pebble",
    ["-config", join(scratch, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`],
    // No artificial validation delay; no nonces rejected at random (certbot would retry).
    { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
    () =>
      new Promise((ok) => {
        const req = httpsRequest(
          { host: "127.0.0.1", port: acmePort, path: "/dir", ca: caText, agent: false },
          (res) => {
            res.resume();
            ok(res.statusCode === 200);
          },
        );
        req.on("error", () => ok(false));
        req.end();
      }),
  );
  pebbleRoot = await new Promise<string>((ok, reject) => {
    const req = httpsRequest(
      { host: "127.0.0.1", port: managementPort, path: "/roots/0", ca: caText, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (body += chunk));
        res.on("end", () => ok(body));
      },
    );
    req.on("error", reject);
    req.end();
  });
  expect(pebbleRoot).toContain("BEGIN CERTIFICATE");

  nginx = await startNginx(site, {
    TLS_DOMAIN: DOMAIN,
    LETSENCRYPT_DIR: letsencrypt,
    QGO_BACKEND: `backend:${await freePort()}`,
    QGO_CERT_WATCH_SECONDS: "1",
  });
}, 120_000);

afterAll(async () => {
  await nginx?.stop();
  for (const daemon of daemons) daemon.kill("SIGTERM");
  site?.remove();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe("certificates from a real ACME server (Pebble) through the frontend's nginx", () => {
  it("without a certificate: the dashboard over plain HTTP, no HTTPS listener", async () => {
    const page = await fetchRaw({ port: site.httpPort, path: "/", headers: { Host: DOMAIN } });
    expect(page.status).toBe(200);
    expect(page.text).toContain('<div id="root"></div>');
    await expect(httpsGet(site.httpsPort, DOMAIN, pebbleRoot)).rejects.toThrow(/ECONNREFUSED/);
  });

  it("a failing issuance (the name points elsewhere) changes nothing: HTTP keeps serving", async () => {
    const elsewhere = `elsewhere.${DOMAIN}`;
    const added = await fetch(`http://127.0.0.1:${challtestPort}/add-a`, {
      method: "POST",
      body: JSON.stringify({ host: elsewhere, addresses: ["127.0.0.2"] }),
    });
    expect(added.status).toBe(200);
    const result = await obtain([elsewhere], elsewhere);
    expect(result.status).not.toBe(0);
    expect(result.output).toMatch(
      /Some challenges have failed|Connection refused|connection refused/i,
    );
    const page = await fetchRaw({ port: site.httpPort, path: "/", headers: { Host: DOMAIN } });
    expect(page.status).toBe(200);
    await expect(httpsGet(site.httpsPort, DOMAIN, pebbleRoot)).rejects.toThrow(/ECONNREFUSED/);
  }, 60_000);

  it("obtains one certificate for two names over HTTP-01; nginx turns HTTPS on by itself, verified against Pebble's CA", async () => {
    const result = await obtain(NAMES, DOMAIN);
    expect(result.status, result.output).toBe(0);
    const answer = await waitFor("HTTPS on after the certificate appeared", () =>
      httpsGet(site.httpsPort, DOMAIN, pebbleRoot),
    );
    expect(answer.status).toBe(200);
    expect(answer.body).toContain('<div id="root"></div>');
    expect(answer.altNames).toContain(`DNS:${DOMAIN}`);
    expect(answer.altNames).toContain(`DNS:www.${DOMAIN}`);
    const www = await httpsGet(site.httpsPort, `www.${DOMAIN}`, pebbleRoot);
    expect(www.status).toBe(200);
    expect(www.serial).toBe(answer.serial);
    // Plain HTTP now redirects, except the ACME challenges renewals need (once the workers
    // of the configuration before the reload have finished, which takes a moment).
    const redirect = await waitFor("plain HTTP redirecting", async () => {
      const answer = await fetchRaw({
        port: site.httpPort,
        path: "/shipments/1",
        headers: { Host: DOMAIN },
      });
      return answer.status === 301 ? answer : undefined;
    });
    expect(redirect.status).toBe(301);
    expect(redirect.headers.location).toBe(`https://${DOMAIN}/shipments/1`);
    mkdirSync(join(site.prefix, "acme", ".well-known", "acme-challenge"), { recursive: true });
    writeFileSync(
      join(site.prefix, "acme", ".well-known", "acme-challenge", "token-1"),
      "token-1.key",
    );
    const challenge = await fetchRaw({
      port: site.httpPort,
      path: "/.well-known/acme-challenge/token-1",
    });
    expect(challenge.status).toBe(200);
    expect(challenge.text).toBe("token-1.key");
    expect(nginx.output()).toMatch(/certificate in .* changed: nginx reloaded gracefully/);
  }, 60_000);

  it("a forced renewal is served after a graceful reload, with no failed request", async () => {
    const before = await httpsGet(site.httpsPort, DOMAIN, pebbleRoot);
    const loop = requestLoop();
    await new Promise((wait) => setTimeout(wait, 500));
    // (--no-random-sleep-on-renew: run from a timer, certbot first sleeps up to 8 minutes.)
    const result = await certbot([
      "renew",
      "--force-renewal",
      "--no-random-sleep-on-renew",
      "--cert-name",
      DOMAIN,
    ]);
    expect(result.status, result.output).toBe(0);
    const after = await waitFor("the renewed certificate served", async () => {
      const answer = await httpsGet(site.httpsPort, DOMAIN, pebbleRoot);
      return answer.serial !== before.serial ? answer : undefined;
    });
    await new Promise((wait) => setTimeout(wait, 500));
    const { failures, sent, serials } = await loop.stop();
    expect(failures).toEqual([]);
    expect(sent).toBeGreaterThan(30);
    expect(serials).toEqual(new Set([before.serial, after.serial]));
    expect(after.altNames).toContain(`DNS:www.${DOMAIN}`);
  }, 120_000);
});

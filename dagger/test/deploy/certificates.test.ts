// HTTPS certificates on the VPS-in-a-box, against a real ACME server: Pebble (Let's Encrypt's
// ACME test server, Debian package) on 127.0.0.1 with pebble-challtestsrv as its DNS (every
// name resolves to 127.0.0.1, the box's published ports, unless a test points one elsewhere).
// Production ("/root/NEW START") deploys with "tls" settings naming Pebble's directory and the
// box's certbot image (Debian's certbot; it trusts the box's test CA, which signed Pebble's
// own HTTPS certificate). Pebble's issuing CA is trusted by this test's client alone.
import { spawn, type ChildProcess } from "node:child_process";
import {
  appendFileSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { createServer } from "node:net";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { VpsBox } from "../vps/box.js";
import { boxDocker, vpsBox } from "../vps/helpers.js";
import { ensureTestCa, issueLoopbackCertificate } from "../vps/test-ca.js";
import { deploy, rollback, status } from "../../src/deploy/index.js";
import type { EnvironmentSettings } from "../../src/deploy/environments.js";
import type { ReleaseFile } from "../../src/deploy/commands/index.js";
import {
  boxCredentials,
  boxEnvironment,
  history,
  outcome,
  releaseImages,
  resetEnvironment,
  killRemoteStep,
  servedThroughFrontend,
  startSlack,
  testCaller,
} from "./support.js";
import { describeTraffic, trafficDuring, type Target } from "./traffic.js";

const DOMAIN = "qgo.box.test";
const NAMES = [DOMAIN, `www.${DOMAIN}`];
const ELSEWHERE = `elsewhere.${DOMAIN}`;

let box: VpsBox;
let releaseFiles: ReleaseFile[];
let credentials: ReturnType<typeof boxCredentials>;
let slack: Awaited<ReturnType<typeof startSlack>>;
let scratch: string;
let pebbleRoot: string;
let acmeDirectory: string;
let challtestPort: number;
let envFileBefore: Buffer | undefined;
const daemons: ChildProcess[] = [];
const lines: string[] = [];
const caller = () => testCaller("certificates", lines);

function freePort(): Promise<number> {
  return new Promise((ok, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => ok(port));
    });
  });
}

/** GET over HTTPS on a fresh connection, verified against Pebble's CA for `servername`. */
function httpsGet(
  servername: string,
  ca = pebbleRoot,
): Promise<{ status: number; serial: string; altNames: string }> {
  return new Promise((ok, reject) => {
    const req = httpsRequest(
      {
        host: "127.0.0.1",
        port: box.ports.production.https,
        path: "/",
        servername,
        ca,
        agent: false,
        timeout: 3000,
        headers: { Host: servername },
      },
      (res) => {
        const cert = (res.socket as TLSSocket).getPeerCertificate();
        res.resume();
        res.on("end", () =>
          ok({
            status: res.statusCode ?? 0,
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

/** Plain HTTP to production's port, with the site's Host header (fetch would send its own). */
function httpStatus(path: string): Promise<{ status: number; location?: string }> {
  return new Promise((ok, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port: box.ports.production.frontend,
        path,
        agent: false,
        timeout: 3000,
        headers: { Host: DOMAIN },
      },
      (res) => {
        res.resume();
        res.on("end", () => ok({ status: res.statusCode ?? 0, location: res.headers.location }));
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
  seconds = 30,
): Promise<T> {
  const deadline = Date.now() + seconds * 1000;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(`${what} within ${seconds} s (last: ${String(last)})`);
    await new Promise((wait) => setTimeout(wait, 200));
  }
}

function startDaemon(name: string, args: string[], env: Record<string, string>) {
  const out = join(scratch, `${name}.out`);
  const fd = openSync(out, "w");
  const child = spawn(name, args, { stdio: ["ignore", fd, fd], env: { ...process.env, ...env } });
  closeSync(fd);
  daemons.push(child);
  return () => readFileSync(out, "utf8");
}

function tlsEnv(domains: string[]): Promise<{ env: EnvironmentSettings }> {
  return boxEnvironment(box, "production", {
    tls: { domains, email: `ops@${DOMAIN}`, acmeDirectory, certbotImage: box.certbotImage },
  });
}

const deployed = async (domains: string[], release: "v1" | "v2") => {
  const { env } = await tlsEnv(domains);
  return outcome(
    deploy(
      { env, releaseFiles, ...releaseImages(box, release), approved: true },
      credentials,
      caller(),
    ),
  );
};

beforeAll(async () => {
  box = vpsBox();
  slack = await startSlack();
  credentials = boxCredentials(box, slack.url);
  await resetEnvironment(box, "production");
  ({ releaseFiles } = await boxEnvironment(box, "production"));
  // The frontend looks for a renewed certificate every 2 s here (60 s by default).
  const envFile = join(box.productionAppDir, ".env");
  envFileBefore = readFileSync(envFile);
  appendFileSync(envFile, "QGO_CERT_WATCH_SECONDS=2\n");
  scratch = join(box.stateDir, "pebble");
  mkdirSync(scratch, { recursive: true });
  // Pebble's own HTTPS listener: a certificate from the box's test CA, which the box's images
  // (certbot's too) trust.
  const ca = ensureTestCa(box.cacheDir);
  const listener = issueLoopbackCertificate(ca, scratch);
  const dnsPort = await freePort();
  challtestPort = await freePort();
  startDaemon(
    "pebble-challtestsrv",
    ["-defaultIPv4", "127.0.0.1", "-defaultIPv6", "", "-dns01", `127.0.0.1:${dnsPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-management", `127.0.0.1:${challtestPort}`],
    {},
  ); // prettier-ignore
  const acmePort = await freePort();
  const managementPort = await freePort();
  writeFileSync(
    join(scratch, "pebble.json"),
    JSON.stringify({
      pebble: {
        listenAddress: `127.0.0.1:${acmePort}`,
        managementListenAddress: `127.0.0.1:${managementPort}`,
        certificate: listener.certFile,
        privateKey: listener.keyFile,
        // HTTP-01 is validated on production's published HTTP port: the edge, then the frontend.
        httpPort: box.ports.production.frontend,
        tlsPort: await freePort(),
        ocspResponderURL: "",
        externalAccountBindingRequired: false,
        // 10 days, not 5 years: under the 14 days a deploy warns about.
        certificateValidityPeriod: 10 * 24 * 3600,
      },
    }),
  );
  const pebbleOutput = startDaemon(
    "pebble",
    ["-config", join(scratch, "pebble.json"), "-dnsserver", `127.0.0.1:${dnsPort}`],
    { PEBBLE_VA_NOSLEEP: "1", PEBBLE_WFE_NONCEREJECT: "0" },
  );
  acmeDirectory = `https://127.0.0.1:${acmePort}/dir`;
  const caText = readFileSync(ca.caFile, "utf8");
  const get = (port: number, path: string) =>
    new Promise<string>((ok, reject) => {
      const req = httpsRequest(
        { host: "127.0.0.1", port, path, ca: caText, agent: false },
        (res) => {
          let body = "";
          res.setEncoding("utf8");
          res.on("data", (chunk: string) => (body += chunk));
          res.on("end", () => (res.statusCode === 200 ? ok(body) : reject(new Error(`HTTP ${res.statusCode}`))));
        },
      );
      req.on("error", reject);
      req.end();
    }); // prettier-ignore
  await waitFor(`Pebble answering (${pebbleOutput()})`, () => get(acmePort, "/dir"));
  pebbleRoot = await get(managementPort, "/roots/0");
  // A name whose DNS points at another machine: HTTP-01 cannot reach this server.
  const added = await fetch(`http://127.0.0.1:${challtestPort}/add-a`, {
    method: "POST",
    body: JSON.stringify({ host: ELSEWHERE, addresses: ["127.0.0.2"] }),
  });
  expect(added.status).toBe(200);
}, 300_000);

afterAll(async () => {
  for (const daemon of daemons) daemon.kill("SIGTERM");
  slack?.server.close();
  if (!box) return;
  await resetEnvironment(box, "production");
  await resetEnvironment(box, "staging");
  if (envFileBefore) writeFileSync(join(box.productionAppDir, ".env"), envFileBefore);
  // What certbot wrote (account, certificates, renewal settings): the next suites start clean.
  for (const name of readdirSync(box.letsencryptDir))
    rmSync(join(box.letsencryptDir, name), { recursive: true, force: true });
});

describe("HTTPS certificates obtained and renewed by certbot against Pebble on the VPS-in-a-box", () => {
  it("when issuance fails (a name's DNS points elsewhere), the deploy succeeds, serves HTTP and says why", async () => {
    const result = await deployed([ELSEWHERE], "v1");
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /HTTPS: certbot could not obtain the certificate \(.+\)\. The site serves plain HTTP\./s,
    );
    expect(slack.messages.at(-1)).toMatch(
      /^:white_check_mark: Deployed release .* NOTE: .*HTTPS: certbot could not obtain the certificate/s,
    );
    expect((await httpStatus("/")).status).toBe(200);
    await expect(httpsGet(ELSEWHERE)).rejects.toThrow();
  }, 300_000);

  it("a deploy obtains one certificate for the apex and www over HTTP-01 and turns HTTPS on, verified against Pebble's CA", async () => {
    const result = await deployed(NAMES, "v2");
    if (!result.ok) throw result.error;
    expect(result.report.log.join("\n")).toMatch(
      /certificate obtained for qgo\.box\.test www\.qgo\.box\.test, expires \d{4}-/,
    );
    // Pebble issues for 10 days here: under 14, a warning in the report (and Slack).
    const warning =
      /HTTPS: the certificate for qgo\.box\.test www\.qgo\.box\.test ends in (9|10) days/;
    expect(result.report.summary).toMatch(warning);
    expect(slack.messages.at(-1)).toMatch(warning);
    for (const name of NAMES) {
      const answer = await waitFor(`HTTPS for ${name}`, () => httpsGet(name));
      expect(answer.status).toBe(200);
      expect(answer.altNames).toContain(`DNS:www.${DOMAIN}`);
    }
    const redirect = await waitFor("plain HTTP redirecting", async () => {
      const answer = await httpStatus("/shipments/1");
      return answer.status === 301 ? answer : undefined;
    });
    expect(redirect.location).toBe(`https://${DOMAIN}/shipments/1`);
    // Renewal runs on the server without the pipeline.
    const renewal = (await boxDocker(box)`docker ps --filter label=com.docker.compose.project=qgo-production --filter label=com.docker.compose.service=certbot --format {{.Status}}`).stdout; // prettier-ignore
    expect(renewal).toMatch(/^Up/);
    // status: the names, the end, the days left (a warning under 14), the renewal service.
    const { env } = await tlsEnv(NAMES);
    const now = await outcome(status(env, credentials, caller()));
    if (!now.ok) throw now.error;
    expect(now.report.summary).toMatch(
      /certificate: qgo\.box\.test www\.qgo\.box\.test, expires \d{4}-\d\d-\d\d [\d:]+ UTC \((9|10) days\) WARNING: under 14 days/,
    );
    expect(now.report.summary).toContain("certificate renewal: running");
  }, 300_000);

  it("a renewal on the server (the certbot service, no pipeline) is served after a graceful reload: 0 failed requests", async () => {
    const before = await httpsGet(DOMAIN);
    const targets: Target[] = NAMES.map((name) => ({
      name: `https ${name}`,
      port: box.ports.production.https,
      path: "/",
      tls: { ca: pebbleRoot, servername: name },
    }));
    const renewAndServe = (async () => {
      const docker = boxDocker(box);
      const id = (await docker`docker ps -q --filter label=com.docker.compose.project=qgo-production --filter label=com.docker.compose.service=certbot`).stdout.trim(); // prettier-ignore
      await docker`docker exec ${id} certbot renew --force-renewal --no-random-sleep-on-renew --non-interactive`;
      return waitFor("the renewed certificate served", async () => {
        const answer = await httpsGet(DOMAIN);
        return answer.serial !== before.serial ? answer : undefined;
      });
    })();
    const { result: after, traffic } = await trafficDuring(renewAndServe, targets);
    console.log(`renewal: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect(traffic.sent).toBeGreaterThan(10);
    expect(after.altNames).toContain(`DNS:${DOMAIN}`);
  }, 300_000);

  it("a later issuance failure keeps the certificate there serving, with 0 failed requests during the deploy", async () => {
    const before = await httpsGet(DOMAIN);
    const targets: Target[] = [
      { name: "https /", port: box.ports.production.https, path: "/", tls: { ca: pebbleRoot, servername: DOMAIN } },
      { name: "http /health", port: box.ports.production.frontend, path: "/health" },
    ]; // prettier-ignore
    const { result, traffic } = await trafficDuring(deployed([...NAMES, ELSEWHERE], "v1"), targets);
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /HTTPS: certbot could not obtain the certificate .*The certificate already there \(qgo\.box\.test www\.qgo\.box\.test\) keeps serving/s,
    );
    expect(traffic.failed).toEqual([]);
    expect((await httpsGet(DOMAIN)).serial).toBe(before.serial);
  }, 300_000);

  it("a certbot image the server cannot pull: the deploy succeeds, HTTPS stays as it was, the note names the setting", async () => {
    const before = await httpsGet(DOMAIN);
    const { env } = await boxEnvironment(box, "production", {
      tls: { domains: NAMES, acmeDirectory, certbotImage: `${box.registry}/qgo/no-such-certbot:1` },
    });
    const result = await outcome(
      deploy(
        { env, releaseFiles, ...releaseImages(box, "v2"), approved: true },
        credentials,
        caller(),
      ),
    );
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /NOTE: .*HTTPS: the certbot image \S+\/qgo\/no-such-certbot:1 could not be pulled on the server \(.+\), so no certificate was obtained.*Set tls\.certbotImage in deploy\/environments\/production\.json/s,
    );
    expect((await httpsGet(DOMAIN)).serial).toBe(before.serial);
  }, 300_000);

  it("tls on an environment whose compose files have no certbot service (staging): the deploy succeeds and says what to add", async () => {
    await resetEnvironment(box, "staging");
    const staging = await boxEnvironment(box, "staging", {
      tls: { domains: NAMES, acmeDirectory, certbotImage: box.certbotImage },
    });
    const result = await outcome(
      deploy(
        { env: staging.env, releaseFiles: staging.releaseFiles, ...releaseImages(box, "v1") },
        credentials,
        caller(),
      ),
    );
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /^Deployed release r\S+ \(version v1-box\) to staging: healthy\./,
    );
    expect(result.report.summary).toMatch(
      /NOTE: .*HTTPS: staging has tls settings, but its compose files \(compose\.yaml, compose\.staging\.yaml\) define no certbot service.*remove tls from deploy\/environments\/staging\.json/s,
    );
    expect((await servedThroughFrontend(box, "staging")).version).toBe("v1-box");
    const now = await outcome(status(staging.env, credentials, caller()));
    if (!now.ok) throw now.error;
    expect(now.report.summary).toContain(
      "certificate: none: compose.yaml, compose.staging.yaml define no certbot service",
    );
  }, 300_000);

  it("a certificates step that dies on the server is a note: the release stays deployed and recorded, no rollback", async () => {
    const before = await httpsGet(DOMAIN);
    const pause = join(box.pauseDir, "certificates");
    writeFileSync(pause, "");
    let result;
    try {
      const run = deployed(NAMES, "v2");
      await waitFor(
        "the deploy at its certificates step",
        () => Promise.resolve(existsSync(`${pause}.reached`) ? true : undefined),
        240,
      );
      // As an out-of-memory kill or a reboot of the server would end it.
      expect(killRemoteStep("production", "certificates")).toBeGreaterThan(0);
      result = await run;
    } finally {
      rmSync(pause, { force: true });
      rmSync(`${pause}.reached`, { force: true });
    }
    if (!result.ok) throw result.error;
    expect(result.report.summary).toMatch(
      /^Deployed release (r\S+) \(version v2-box\) to production: healthy\..* NOTE: .*Step certificates failed after the release was recorded: step certificates failed \(exit \d+\).*The release is deployed and serving/s,
    );
    expect(slack.messages.at(-1)).toContain(
      "Step certificates failed after the release was recorded",
    );
    const id = /^Deployed release (r\S+)/.exec(result.report.summary)![1];
    expect(history(box, "production").at(-1)).toMatchObject({ result: "success", serving: id });
    expect((await servedThroughFrontend(box, "production")).version).toBe("v2-box");
    expect((await httpsGet(DOMAIN)).serial).toBe(before.serial);
  }, 300_000);

  it("rollback --to previous onto a release deployed before the tls settings keeps HTTPS: 0 failed requests", async () => {
    // That release: deployed while the environment had no tls (its release.env names no site).
    const { env: plain } = await boxEnvironment(box, "production");
    const before = await outcome(
      deploy(
        { env: plain, releaseFiles, ...releaseImages(box, "v1"), approved: true },
        credentials,
        caller(),
      ),
    );
    if (!before.ok) throw before.error;
    const now = await deployed(NAMES, "v2");
    if (!now.ok) throw now.error;
    await waitFor("HTTPS on again", () => httpsGet(DOMAIN));
    const { env } = await tlsEnv(NAMES);
    const targets: Target[] = [
      { name: "https /", port: box.ports.production.https, path: "/", tls: { ca: pebbleRoot, servername: DOMAIN } },
    ]; // prettier-ignore
    const { result, traffic } = await trafficDuring(
      outcome(rollback({ env, toPrevious: true }, credentials, caller())),
      targets,
    );
    if (!result.ok) throw result.error;
    console.log(`rollback onto a release from before tls: ${describeTraffic(traffic)}`);
    expect(traffic.failed).toEqual([]);
    expect((await servedThroughFrontend(box, "production")).version).toBe("v1-box");
    expect((await httpsGet(DOMAIN)).status).toBe(200);
  }, 300_000);

  it("a name removed from tls.domains: the next deploy re-issues the certificate for the names left", async () => {
    const result = await deployed([DOMAIN], "v2");
    if (!result.ok) throw result.error;
    expect(result.report.log.join("\n")).toMatch(
      /certificate obtained for qgo\.box\.test, expires/,
    );
    const answer = await waitFor("the certificate without www served", async () => {
      const got = await httpsGet(DOMAIN);
      return got.altNames.includes("www.") ? undefined : got;
    });
    expect(answer.altNames).toBe(`DNS:${DOMAIN}`);
  }, 300_000);
});

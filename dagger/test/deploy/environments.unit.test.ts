// Environments are data: every deploy/environments/<name>.json is one, read through the zod
// schema (unknown keys named), with the committed JSON Schema generated from the same schema.
import {
  mkdtempSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  copyFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { schemaPath, schemaText } from "../../scripts/environment-schema.js";
import {
  DeployConfigError,
  ENVIRONMENTS_DIR,
  type EnvironmentOverrides,
  parseEnvironmentFile,
  resolveEnvironment,
} from "../../src/deploy/environments.js";
import { environmentNames, diskReader, loadRepoFiles } from "../../src/deploy/repo-files.js";
import { deploy } from "../../src/deploy/index.js";
import { sshKeygen } from "./ssh-keys.js";
import { productionJson, repoRoot, stagingJson } from "./unit-support.js";

const withKey = (text: string, extra: Record<string, unknown>) =>
  JSON.stringify({ ...JSON.parse(text), ...extra });

/** A repository copy holding only deploy/: its environments and compose files. */
function repoWith(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), "qgo-envs-"));
  mkdirSync(join(root, ENVIRONMENTS_DIR), { recursive: true });
  for (const name of readdirSync(join(repoRoot, "deploy"))) {
    if (name.endsWith(".yaml"))
      copyFileSync(join(repoRoot, "deploy", name), join(root, "deploy", name));
  }
  for (const [name, text] of Object.entries(files))
    writeFileSync(join(root, ENVIRONMENTS_DIR, name), text);
  return root;
}

describe("environment files", () => {
  it("the committed JSON Schema is the one generated from the zod schema (npm run environment-schema)", () => {
    expect(readFileSync(schemaPath, "utf8")).toBe(schemaText());
  });

  it("every committed environment file is valid and points editors at the schema", async () => {
    const names = await environmentNames(diskReader(repoRoot));
    expect(names).toEqual(["production", "staging"]);
    for (const name of names) {
      const text = readFileSync(join(repoRoot, ENVIRONMENTS_DIR, `${name}.json`), "utf8");
      expect(parseEnvironmentFile(name, text).$schema).toBe("./environment.schema.json");
    }
  });

  it("rejects unknown keys by name, at the top level and nested", () => {
    expect(() => parseEnvironmentFile("staging", withKey(stagingJson, { hots: "x" }))).toThrow(
      /deploy\/environments\/staging\.json: unknown key "hots" \(a typo\? the schema is environment\.schema\.json\)/,
    );
    const nested = withKey(stagingJson, { ports: { backend: 1, frontend: 2, backnd: 3 } });
    expect(() => parseEnvironmentFile("staging", nested)).toThrow(/unknown key "backnd" in ports/);
  });

  it("names a field of the wrong type, and a name that is not the file's", () => {
    expect(() => parseEnvironmentFile("staging", withKey(stagingJson, { sshPort: "22" }))).toThrow(
      /staging\.json: sshPort: .*expected number/,
    );
    expect(() =>
      resolveEnvironment("staging", withKey(stagingJson, { name: "production" }), { host: "h" }),
    ).toThrow(/Environment staging: name must be "staging" \(the file name\), found "production"/);
  });

  it("tls: names and URLs are checked by field; the ACME directory and certbot image default", () => {
    const tls = (value: unknown) => withKey(stagingJson, { tls: value });
    expect(() =>
      parseEnvironmentFile("staging", tls({ domains: ["cargo.example.com", "bad name"] })),
    ).toThrow(/tls\.domains\.1: must be a host name such as cargo\.example\.com/);
    expect(() => parseEnvironmentFile("staging", tls({ domains: [] }))).toThrow(/tls\.domains/);
    expect(() =>
      parseEnvironmentFile(
        "staging",
        tls({ domains: ["a.example.com"], acmeDirectory: "http://acme.test/dir" }),
      ),
    ).toThrow(/tls\.acmeDirectory: must be an https:\/\/ URL/);
    expect(() =>
      parseEnvironmentFile("staging", tls({ domains: ["a.example.com"], email: "ops" })),
    ).toThrow(/tls\.email: must be an e-mail address/);
    const parsed = parseEnvironmentFile("staging", tls({ domains: ["a.example.com"] }));
    expect(parsed.tls).toEqual({
      domains: ["a.example.com"],
      acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory",
      certbotImage: "certbot/certbot:v2.11.0",
    });
  });

  it("a qa environment needs only a file: the omitted fields take the schema's defaults", async () => {
    const qa = {
      $schema: "./environment.schema.json",
      name: "qa",
      host: "qa.example.net",
      appDir: "/srv/qa",
      composeFiles: ["compose.yaml"],
      project: "qgo-qa",
      ports: { backend: 5002, frontend: 8082 },
    };
    const root = repoWith({ "qa.json": JSON.stringify(qa) });
    const { env, releaseFiles } = await loadRepoFiles(root, "qa");
    expect(env).toMatchObject({
      name: "qa",
      sshPort: 22,
      sshUser: "root",
      backupsDir: "/root/backups",
      approvalRequired: false,
      backupRetention: 5,
    });
    expect(env.healthUrls).toEqual({
      backend: "http://127.0.0.1:5002/health",
      frontend: "http://127.0.0.1:8082/",
    });
    expect(releaseFiles.map((f) => f.name)).toEqual(["compose.yaml"]);
    await expect(loadRepoFiles(root, "staging")).rejects.toThrow(
      /Unknown environment "staging"\. Known environments: qa\./,
    );
  });

  it("the approval gate is a field, not a name: prod-eu.json requires --approved too", async () => {
    const prodEu = {
      name: "prod-eu",
      host: "eu.example.net",
      appDir: "/srv/eu",
      composeFiles: ["compose.yaml"],
      project: "qgo-prod-eu",
      ports: { backend: 5003, frontend: 8083 },
      approvalRequired: true,
    };
    const root = repoWith({ "prod-eu.json": JSON.stringify(prodEu) });
    const { env, releaseFiles } = await loadRepoFiles(root, "prod-eu", {
      knownHosts: [
        "eu.example.net ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHd3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3d3",
      ],
    });
    const digest = (c: string) => `registry.example/qgo/x@sha256:${c.repeat(64)}`;
    const request = { env, releaseFiles, backendImage: digest("a"), frontendImage: digest("b") };
    await expect(
      deploy(request, { privateKey: sshKeygen().privateKey }, { holder: "unit" }),
    ).rejects.toThrow(/prod-eu requires an approval: pass --approved/);
  });
});

describe("environments", () => {
  it("reads the repository's staging and production settings with issue defaults", () => {
    const staging = resolveEnvironment("staging", stagingJson, { host: "stage.example.net" });
    const production = resolveEnvironment("production", productionJson, {
      host: "prod.example.net",
    });
    expect(staging.ports).toEqual({ backend: 5001, frontend: 8080 });
    expect(production.ports).toEqual({ backend: 5000, frontend: 80, https: 443 });
    expect(production.appDir).toBe("/root/NEW START");
    expect(staging.backupRetention).toBe(5);
    expect(production.approvalRequired).toBe(true);
    expect(staging.approvalRequired).toBe(false);
    expect(staging.migrateCommand).toEqual(["npx", "prisma", "migrate", "deploy"]);
    // The seed's production serves the apex and www over HTTPS; staging (port 8080) plain HTTP.
    expect(production.tls).toEqual({
      domains: ["qgocargo.cloud", "www.qgocargo.cloud"],
      acmeDirectory: "https://acme-v02.api.letsencrypt.org/directory",
      certbotImage: "certbot/certbot:v2.11.0",
    });
    expect(staging.tls).toBeUndefined();
  });

  it("tls overrides replace the file's whole, are checked as the file's are, and null turns HTTPS off", () => {
    const production = (tls: EnvironmentOverrides["tls"]) =>
      resolveEnvironment("production", productionJson, { host: "h", tls });
    expect(production(undefined).tls?.domains).toEqual(["qgocargo.cloud", "www.qgocargo.cloud"]);
    expect(production(null).tls).toBeUndefined();
    expect(
      production({ domains: ["box.test"], acmeDirectory: "https://127.0.0.1:14000/dir" }).tls,
    ).toEqual({
      domains: ["box.test"],
      acmeDirectory: "https://127.0.0.1:14000/dir",
      certbotImage: "certbot/certbot:v2.11.0",
    });
    expect(() => production({ domains: ["box.test", "no spaces"] })).toThrow(
      /Environment production: tls\.domains\.1: must be a host name .*Nothing was changed/,
    );
  });

  it("lets every field be overridden, and ports move the health URLs along", () => {
    const env = resolveEnvironment("staging", stagingJson, {
      host: "h",
      sshPort: 2222,
      ports: { backend: 15001 },
      health: { attempts: 3 },
      migrateCommand: ["node", "scripts/apply-migrations.mjs"],
    });
    expect(env.sshPort).toBe(2222);
    expect(env.healthUrls.backend).toBe("http://127.0.0.1:15001/health");
    expect(env.healthUrls.frontend).toBe("http://127.0.0.1:8080/");
    expect(env.health).toMatchObject({ attempts: 3, timeoutSeconds: 5 });
    expect(env.migrateCommand).toEqual(["node", "scripts/apply-migrations.mjs"]);
  });

  it("refuses unknown environments and bad settings with a clear message", async () => {
    await expect(loadRepoFiles(repoRoot, "prod")).rejects.toThrow(
      /Unknown environment "prod"\. Known environments: production, staging\. To add one, add deploy\/environments\/prod\.json/,
    );
    expect(() => resolveEnvironment("Prod; rm", "{}")).toThrow(
      /Bad environment name "Prod; rm": use lower-case letters, digits and -/,
    );
    expect(() => resolveEnvironment("staging", stagingJson)).toThrow(
      /host is not set: pass --host/,
    );
    expect(() =>
      resolveEnvironment("staging", stagingJson, { host: "h", appDir: "relative/dir" }),
    ).toThrow(/appDir must be an absolute path/);
    expect(() =>
      resolveEnvironment("staging", stagingJson, { host: "h", composeFiles: ["../x.yaml"] }),
    ).toThrow(DeployConfigError);
    expect(() => resolveEnvironment("staging", "{ nope", { host: "h" })).toThrow(/not valid JSON/);
  });
});

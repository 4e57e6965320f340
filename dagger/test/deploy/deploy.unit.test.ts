// The deploy's runbook as --dry-run prints it, without connecting anywhere.
import { describe, expect, it } from "vitest";
import { deploy } from "../../src/deploy/deploy.js";
import { resolveEnvironment } from "../../src/deploy/environments.js";
import type { Credentials } from "../../src/deploy/index.js";
import {
  digest,
  productionJson,
  someKnownHosts,
  stagingJson,
  throwawayKey,
} from "./unit-support.js";

/** A dry run of the repository's environment `name` (production passes --approved). */
function dryRun(name: "staging" | "production", credentials: Credentials) {
  // Port 1 on a documentation address: a connection attempt would fail the test.
  const offline = resolveEnvironment(name, name === "staging" ? stagingJson : productionJson, {
    host: "192.0.2.1",
    sshPort: 1,
    knownHosts: someKnownHosts,
  });
  const releaseFiles = ["compose.yaml", `compose.${name}.yaml`].map((file) => ({
    name: file,
    content: "services: {}\n",
  }));
  return deploy(
    {
      env: offline,
      releaseFiles,
      backendImage: digest("a"),
      frontendImage: digest("b"),
      dryRun: true,
      approved: name === "production",
    },
    credentials,
    { holder: "unit" },
  );
}

describe("deploy", () => {
  it("prints an exact plan on --dry-run without connecting anywhere", async () => {
    const key = throwawayKey();
    const keyMaterial = key.split("\n")[1]!;
    const report = await dryRun("staging", {
      privateKey: key,
      registryPassword: "registry-pass-123",
    });
    expect(report.ok).toBe(true);
    expect(report.roundTrips).toBe(0);
    expect(report.plan).toContain("### preflight (at the same time as pull):");
    expect(report.plan).toContain("registries=(127.0.0.1:5000)");
    expect(report.plan).toContain('docker login --username deploy --password-stdin "$r"');
    expect(report.plan).toContain("trap logout EXIT");
    expect(report.plan).toContain("stdin: 17 secret bytes (not shown)");
    expect(report.plan).not.toContain("registry-pass-123");
    expect(report.log.join("\n")).not.toContain(keyMaterial);
    expect(report.plan).not.toContain("### certificates");
  });

  it("with tls settings, the plan obtains the certificate after the record, outside the rollback", async () => {
    const report = await dryRun("production", { privateKey: throwawayKey() });
    const steps = [...report.plan!.matchAll(/^### ([\w-]+)/gm)].map((m) => m[1]);
    expect(steps.indexOf("certificates")).toBe(steps.indexOf("record") + 1);
    expect(report.plan).toContain(
      "### certificates (after the record; a failure is a note, never a rollback): HTTPS certificate for qgocargo.cloud, www.qgocargo.cloud from https://acme-v02.api.letsencrypt.org/directory",
    );
    expect(report.plan).toContain(
      "--cert-name qgocargo.cloud -d qgocargo.cloud -d www.qgocargo.cloud",
    );
  });
});

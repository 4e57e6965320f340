// The deploy's runbook as --dry-run prints it, without connecting anywhere.
import { describe, expect, it } from "vitest";
import { deploy } from "../../src/deploy/deploy.js";
import { resolveEnvironment } from "../../src/deploy/environments.js";
import { digest, someKnownHosts, stagingJson, throwawayKey } from "./unit-support.js";

describe("deploy", () => {
  it("prints an exact plan on --dry-run without connecting anywhere", async () => {
    const files = [
      { name: "compose.yaml", content: "services: {}\n" },
      { name: "compose.staging.yaml", content: "services: {}\n" },
    ];
    const key = throwawayKey();
    const keyMaterial = key.split("\n")[1]!;
    // Port 1 on a documentation address: a connection attempt would fail the test.
    const offline = resolveEnvironment("staging", stagingJson, {
      host: "192.0.2.1",
      sshPort: 1,
      knownHosts: someKnownHosts,
    });
    const report = await deploy(
      {
        env: offline,
        releaseFiles: files,
        backendImage: digest("a"),
        frontendImage: digest("b"),
        dryRun: true,
      },
      { privateKey: key, registryPassword: "registry-pass-123" },
      { holder: "unit" },
    );
    expect(report.ok).toBe(true);
    expect(report.roundTrips).toBe(0);
    expect(report.plan).toContain("### preflight (at the same time as pull):");
    expect(report.plan).toContain("registries=(127.0.0.1:5000)");
    expect(report.plan).toContain('docker login --username deploy --password-stdin "$r"');
    expect(report.plan).toContain("trap logout EXIT");
    expect(report.plan).toContain("stdin: 17 secret bytes (not shown)");
    expect(report.plan).not.toContain("registry-pass-123");
    expect(report.log.join("\n")).not.toContain(keyMaterial);
  });
});

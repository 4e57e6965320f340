// Input validation before any connection: each refusal names the problem and changes nothing.
import { describe, expect, it } from "vitest";
import { deploy } from "../../src/deploy/deploy.js";
import { resolveEnvironment } from "../../src/deploy/environments.js";
import { rollback } from "../../src/deploy/rollback.js";
import { validateBackupName } from "../../src/deploy/validate.js";
import { digest, someKnownHosts, stagingJson, throwawayKey } from "./unit-support.js";

describe("input validation", () => {
  const env = resolveEnvironment("staging", stagingJson, { host: "h", knownHosts: someKnownHosts });
  it("accepts only plain backup names of the environment itself", () => {
    expect(() => validateBackupName("backup_staging_20260101_120000.tar.gz", env)).not.toThrow();
    expect(() => validateBackupName("../x", env)).toThrow(/no path parts/);
    expect(() =>
      validateBackupName("/root/backups/backup_staging_20260101_120000.tar.gz", env),
    ).toThrow(/no path parts/);
    expect(() => validateBackupName("backup_production_20260101_120000.tar.gz", env)).toThrow(
      /belongs to production, not staging/,
    );
    expect(() => validateBackupName("backup_staging_2026.tar.gz", env)).toThrow(
      /expected backup_staging_<YYYYMMDD_HHMMSS>/,
    );
  });

  it("refuses missing secrets, tags instead of digests and unknown compose files before connecting", async () => {
    const files = [
      { name: "compose.yaml", content: "services: {}\n" },
      { name: "compose.staging.yaml", content: "services: {}\n" },
    ];
    const caller = { holder: "unit" };
    const key = throwawayKey();
    const images = { backendImage: digest("a"), frontendImage: digest("b") };
    await expect(
      deploy({ env, releaseFiles: files, ...images }, { privateKey: "" }, caller),
    ).rejects.toThrow(/Missing secret: the SSH deploy key/);
    await expect(
      deploy(
        { env: { ...env, knownHosts: [] }, releaseFiles: files, ...images },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(
      /Missing known_hosts for staging: .*Add it to knownHosts in deploy\/environments\/staging.json or pass --known-hosts/,
    );
    await expect(
      deploy(
        { env, releaseFiles: files, ...images, frontendImage: "nginx:latest" },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(/not a digest reference/);
    await expect(
      deploy({ env, releaseFiles: files.slice(0, 1), ...images }, { privateKey: key }, caller),
    ).rejects.toThrow(/compose.staging.yaml .* was not found/);
    await expect(
      deploy(
        { env, releaseFiles: files, tag: { repository: "ghcr.io/o/n", tag: "dev;rm" } },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(/--tag "dev;rm" is not an image tag/);
    await expect(
      deploy(
        { env, releaseFiles: files, tag: { repository: "", tag: "develop" } },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(
      /--image-repository "" is not an image repository .*set imageRepository in deploy\/environments\/staging.json/,
    );
    await expect(
      deploy(
        { env, releaseFiles: files, ...images, tag: { repository: "ghcr.io/o/n", tag: "develop" } },
        { privateKey: key },
        caller,
      ),
    ).rejects.toThrow(/Name the release one way/);
    await expect(rollback({ env, backup: "../x" }, { privateKey: key }, caller)).rejects.toThrow(
      /no path parts/,
    );
    await expect(rollback({ env }, { privateKey: key }, caller)).rejects.toThrow(
      /exactly one of --backup NAME or --to previous/,
    );
  });
});

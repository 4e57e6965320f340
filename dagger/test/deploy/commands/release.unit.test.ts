// Uploading a release's files and switching to one, run for real in a scratch dir.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { bash, digest, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();

describe("release", () => {
  it("upload writes files byte for byte, whatever characters they hold", () => {
    const env = envIn(join(scratch(), "upload"));
    const content = "x: \"$HOME `id` $(whoami)\"\n'quotes' \\ back\\slash\n€ and trailing";
    const result = bash(
      commands.uploadRelease(
        env,
        "r20260101_120000_abcdef",
        [{ name: "compose.yaml", content }],
        "A=1\n",
      ).script,
    );
    expect(result.status, result.stderr).toBe(0);
    const dir = join(env.appDir, ".qgo-deploy/releases/r20260101_120000_abcdef");
    expect(readFileSync(join(dir, "compose.yaml"), "utf8")).toBe(content);
    expect(readFileSync(join(dir, "release.env"), "utf8")).toBe("A=1\n");
  });

  it("a switch to a release from before the tls settings gives it the environment's (HTTPS stays on)", () => {
    const plain = envIn(join(scratch(), "switch"));
    const env = {
      ...plain,
      tls: {
        domains: ["qgocargo.cloud", "www.qgocargo.cloud"],
        acmeDirectory: "https://acme.example.com/dir",
        certbotImage: "certbot/certbot:v2.11.0",
      },
    };
    const files = [
      { name: "compose.yaml", content: "services: {}\n" },
      { name: "compose.staging.yaml", content: "services: {}\n" },
    ];
    const old = commands.releaseEnvText(
      plain,
      { backendImage: digest("a"), frontendImage: digest("b") },
      {},
    );
    const id = "r20260101_120000_abcdef";
    for (const command of [
      commands.uploadRelease(env, id, files, `${old}TLS_DOMAIN=old.example.com\n`),
      commands.switchRelease(env, id),
    ]) {
      const result = bash(command.script);
      expect(result.status, result.stderr).toBe(0);
    }
    const live = readFileSync(join(env.appDir, "release.env"), "utf8");
    expect(live).toBe(`${old}TLS_DOMAIN=qgocargo.cloud\nCERTBOT_IMAGE=certbot/certbot:v2.11.0\n`);
    // The release's own files stay as they were deployed.
    const kept = join(env.appDir, ".qgo-deploy/releases", id, "release.env");
    expect(readFileSync(kept, "utf8")).toBe(`${old}TLS_DOMAIN=old.example.com\n`);
  });
});

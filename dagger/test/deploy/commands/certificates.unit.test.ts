// The certificates step's script, run for real in bash with `docker` a shell function that
// answers as a server would: what it prints when the environment's compose files cannot run
// certbot, and when certbot fails in words of its own.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import * as commands from "../../../src/deploy/commands/index.js";
import { q, script } from "../../../src/deploy/commands/shared.js";
import type { EnvironmentSettings } from "../../../src/deploy/environments.js";
import { bash, envIn, useScratch } from "../unit-support.js";

const scratch = useScratch();
const tls = {
  domains: ["qgocargo.cloud", "www.qgocargo.cloud"],
  acmeDirectory: "https://acme.example.com/dir",
  certbotImage: "certbot/certbot:v2.11.0",
};

/**
 * A script after a `docker` function: `services` is what compose config lists (none: config
 * fails, as without a release.env), `certbotSays` what certbot certonly prints as it fails.
 */
function run(
  dir: string,
  services: string | null,
  certbotSays: string,
  build: (env: EnvironmentSettings) => string = (env) => commands.obtainCertificates(env).script,
) {
  const env = { ...envIn(join(scratch(), dir)), tls };
  mkdirSync(env.appDir, { recursive: true });
  const docker = [
    "docker() {",
    '  case "$*" in',
    services === null
      ? '    *"config --services"*) return 1 ;;'
      : `    *"config --services"*) printf '%s\\n' ${services} ;;`,
    '    "image inspect "*) return 0 ;;',
    "    ps\\ *) return 0 ;;",
    '    *" certonly "*) printf \'%s\\n\' "$CERTBOT_SAYS"; return 1 ;;',
    '    *" certificates "*) return 1 ;;',
    '    *" up -d "*) return 0 ;;',
    '    *) echo "unexpected docker $*" >&2; return 99 ;;',
    "  esac",
    "}",
    "export -f docker",
  ].join("\n");
  const result = bash(`export CERTBOT_SAYS=${q(certbotSays)}\n${docker}\n${build(env)}`);
  expect(result.status, result.stderr).toBe(0);
  return result.stdout;
}

describe("certificates step", () => {
  it("compose files without the certbot service: says which files, runs nothing else", () => {
    const out = run("no-service", "frontend backend edge", "");
    expect(out).toBe("certificate_no_service=compose.yaml, compose.staging.yaml\n");
  });

  it("certbot failing in words none of the usual ones: its last lines are the reason", () => {
    const out = run("odd-words", "frontend backend edge certbot", "first\nsecond\nthird\nfourth");
    expect(out).toMatch(/^certificate_failed=second third fourth ?$/m);
    expect(out).toMatch(/^renewal=running$/m);
  });

  it("certbot's error lines are the reason when it has them", () => {
    const out = run(
      "error-words",
      "frontend backend edge certbot",
      "Saving debug log to /var/log/x\nSome challenges have failed.\nDetail: DNS problem\nbye",
    );
    expect(out).toMatch(
      /^certificate_failed=Some challenges have failed\. Detail: DNS problem ?$/m,
    );
  });

  it("status: compose files without the certbot service are named; files compose cannot read are not taken for that", () => {
    const status = (env: EnvironmentSettings) =>
      script([`cd ${q(env.appDir)}`, ...commands.certificateStatusLines(env)]);
    expect(run("status-no-service", "frontend certbot-not edge", "", status)).toBe(
      "certificate: none: compose.yaml, compose.staging.yaml define no certbot service, so nothing obtains or renews one (README: HTTPS certificates)\n",
    );
    expect(run("status-unreadable", null, "", status)).toMatch(
      /^certificate: none for qgocargo\.cloud www\.qgocargo\.cloud \(the next deploy obtains it.*\ncertificate renewal: NOT RUNNING/s,
    );
  });
});

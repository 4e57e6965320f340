// The box's sshd: strict host key checking, key-only login, and sessions that drive the
// box's own dockerd with Compose v2 (what the deploy runs on a server).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import type { VpsBox } from "./box.js";
import { sshRun, vpsBox } from "./helpers.js";

let box: VpsBox;
let scratch: string;
let otherKey: string;

/** OpenSSH's client with strict host key checking and only the given known_hosts file. */
function openssh(knownHostsFile: string, identity: string, command: string) {
  return $({
    nothrow: true,
    quiet: true,
  })`ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o ${`UserKnownHostsFile=${knownHostsFile}`} -o IdentitiesOnly=yes -o ConnectTimeout=10 -i ${identity} -p ${box.sshPort} ${`${box.sshUser}@${box.sshHost}`} ${command}`;
}

beforeAll(async () => {
  box = vpsBox();
  scratch = mkdtempSync(join(tmpdir(), "qgo-vps-ssh-test-"));
  otherKey = join(scratch, "other_ed25519");
  await $({ quiet: true })`ssh-keygen -q -t ed25519 -N ${""} -f ${otherKey}`;
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("sshd of the VPS box", () => {
  it("accepts its own host key and gives sessions the box's dockerd and Compose v2", async () => {
    const result = await openssh(
      box.knownHostsPath,
      box.privateKeyPath,
      "docker compose version --short && docker info --format '{{.DockerRootDir}}'",
    );
    expect(result.exitCode, result.stderr).toBe(0);
    const [composeVersion, dockerRoot] = result.stdout.trim().split("\n");
    expect(composeVersion).toMatch(/^2\.\d+\.\d+/);
    expect(dockerRoot).toBe(join(box.cacheDir, "docker"));
  });

  it("refuses to connect when the known_hosts line holds another key (OpenSSH client)", async () => {
    const otherPublic = readFileSync(`${otherKey}.pub`, "utf8").trim().split(/\s+/);
    const wrongKnownHosts = join(scratch, "known_hosts_wrong");
    writeFileSync(
      wrongKnownHosts,
      `[127.0.0.1]:${box.sshPort} ${otherPublic[0]} ${otherPublic[1]}\n`,
    );
    const result = await openssh(wrongKnownHosts, box.privateKeyPath, "echo should-not-run");
    expect(result.exitCode).toBe(255);
    expect(result.stdout).not.toContain("should-not-run");
    expect(result.stderr).toMatch(
      /REMOTE HOST IDENTIFICATION HAS CHANGED|Host key verification failed/,
    );
  });

  it("refuses to connect when known_hosts does not list the host at all", async () => {
    const emptyKnownHosts = join(scratch, "known_hosts_empty");
    writeFileSync(emptyKnownHosts, "");
    const result = await openssh(emptyKnownHosts, box.privateKeyPath, "echo should-not-run");
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toContain("Host key verification failed");
  });

  it("refuses a wrong known_hosts line with ssh2 too, before any command runs", async () => {
    const otherPublic = readFileSync(`${otherKey}.pub`, "utf8").trim().split(/\s+/);
    const marker = join(scratch, "ran");
    await expect(
      sshRun(box, `touch ${marker}`, {
        knownHostsLine: `[127.0.0.1]:${box.sshPort} ${otherPublic[0]} ${otherPublic[1]}`,
      }),
    ).rejects.toThrow(/verification failed/i);
    expect(() => readFileSync(marker)).toThrow();
    const ok = await sshRun(box, "echo connected as $(id -un)");
    expect(ok).toMatchObject({ code: 0, stdout: "connected as root\n" });
  });

  it("refuses a client key that is not authorized", async () => {
    const result = await openssh(box.knownHostsPath, otherKey, "echo should-not-run");
    expect(result.exitCode).toBe(255);
    expect(result.stderr).toContain("Permission denied");
  });
});

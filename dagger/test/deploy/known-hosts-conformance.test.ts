// Host keys exactly as OpenSSH checks them. Each case gives the same known_hosts text to
// OpenSSH's own client (ssh -o StrictHostKeyChecking=yes, the ground truth) and to the deploy
// core's executor, both connecting to the box's sshd (ed25519, ECDSA and RSA host keys, and a
// host certificate on the ed25519 key). The verdicts must be the same, or ours stricter with a
// message saying why; ours must never accept a key OpenSSH refuses.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { $ } from "zx";
import type { VpsBox } from "../vps/box.js";
import { vpsBox } from "../vps/helpers.js";
import { SshExecutor } from "../../src/deploy/executor.js";
import { HostKeyError } from "../../src/deploy/known-hosts.js";
import { Redactor } from "../../src/deploy/redact.js";

let box: VpsBox;
let scratch: string;
/** Public keys (`type base64`) the box's sshd does not hold. */
const others = { ed25519: "", ecdsa: "" };

type Verdict = "accept" | "refuse";

interface Case {
  title: string;
  /** The known_hosts text, given the box's port and host keys. */
  text: () => string;
  /** The host name both clients connect to (the box's sshd listens on 127.0.0.1). */
  connectAs?: string;
  /** OpenSSH offers plain host key algorithms only (no host certificate), as ours does. */
  plainKeysOnly?: boolean;
  openssh: Verdict;
  /** Where ours refuses what OpenSSH accepts: the reason its message must give. */
  stricter?: RegExp;
  /** What our refusal must say. */
  message?: RegExp;
}

const port = () => box.sshPort;
const at = (host = "127.0.0.1") => `[${host}]:${port()}`;
const keys = () => box.hostKeys;

const cases: Case[] = [
  {
    title: "[host]:port with the host's ed25519 key",
    text: () => `${at()} ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "the host without the port: used when no line names [host]:port",
    text: () => `127.0.0.1 ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "the port-less line is not used when a [host]:port line holds another key",
    text: () => `${at()} ${others.ed25519}\n127.0.0.1 ${keys().ed25519}`,
    plainKeysOnly: true,
    openssh: "refuse",
  },
  {
    // OpenSSH's host-certificate path (no CA line: retry with the plain key) looks up the
    // port-less name too, so with a certificate on offer it accepts what it refuses above.
    title: "the same, when the server offers a host certificate",
    text: () => `${at()} ${others.ed25519}\n127.0.0.1 ${keys().ed25519}`,
    openssh: "accept",
    stricter: /but known_hosts expects ssh-ed25519 SHA256:/,
  },
  {
    title: "no line for the host at all",
    text: () => `other.example ${keys().ed25519}`,
    openssh: "refuse",
    message: /No usable known_hosts entry for \[127\.0\.0\.1\]:\d+/,
  },
  {
    title: "another key for the host",
    text: () => `${at()} ${others.ed25519}`,
    openssh: "refuse",
    message:
      /the server presented ssh-ed25519 SHA256:\S+, but known_hosts expects ssh-ed25519 SHA256:/,
  },
  {
    title: "the pattern * names every host",
    text: () => `* ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "? and * inside [host]:port",
    text: () => `[127.0.0.?]:* ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "a pattern for another port",
    text: () => `[127.0.0.1]:${port() + 1} ${keys().ed25519}`,
    openssh: "refuse",
  },
  {
    title: "a negated pattern for the host rules the line out",
    text: () => `!${at()},!127.0.0.1,* ${keys().ed25519}`,
    openssh: "refuse",
  },
  {
    title: "a negated [host]:port alone leaves the port-less lookup",
    text: () => `!${at()},* ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "a negated pattern for other hosts leaves it in",
    text: () => `!*.example.com,* ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "a name hashed by ssh-keygen -H",
    text: () => hashedByOpenssh(`${at()} ${keys().ed25519}`),
    openssh: "accept",
  },
  {
    title: "a hashed name is one entry: a pattern after it is not read",
    text: () => {
      const [hosts, ...rest] = hashedByOpenssh(`other.example ${keys().ed25519}`).split(" ");
      return `${hosts},* ${rest.join(" ")}`;
    },
    openssh: "refuse",
  },
  {
    title: "host names and patterns compared case-insensitively",
    text: () => `[LocalHost]:${port()} ${keys().ed25519}`,
    connectAs: "LOCALHOST",
    openssh: "accept",
  },
  {
    title: "@revoked refuses the key even with a plain line for it",
    text: () => `${at()} ${keys().ed25519}\n@revoked ${at()} ${keys().ed25519}`,
    openssh: "refuse",
    message: /known_hosts marks @revoked/,
  },
  {
    title: "@revoked with the pattern *",
    text: () => `@revoked * ${keys().ed25519}\n${at()} ${keys().ed25519}`,
    openssh: "refuse",
    message: /@revoked/,
  },
  {
    title: "@revoked for another host only",
    text: () => `@revoked other.example ${keys().ed25519}\n${at()} ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "@cert-authority with the CA of the host's certificate",
    text: () => `@cert-authority * ${keys().ca}`,
    openssh: "accept",
    stricter: /@cert-authority line is not used: host certificates are not verified here/,
  },
  {
    title: "@cert-authority with the host's own key (not a CA) is no host key line",
    text: () => `@cert-authority * ${keys().ed25519}`,
    openssh: "refuse",
  },
  {
    title: "several key types, all the host's",
    text: () => [keys().rsa, keys().ecdsa, keys().ed25519].map((k) => `${at()} ${k}`).join("\n"),
    openssh: "accept",
  },
  {
    title: "an ECDSA line only",
    text: () => `${at()} ${keys().ecdsa}`,
    openssh: "accept",
  },
  {
    title: "an RSA line only",
    text: () => `${at()} ${keys().rsa}`,
    openssh: "accept",
  },
  {
    title: "the host's ECDSA key, but another ed25519 key (which OpenSSH prefers)",
    text: () => `${at()} ${keys().ecdsa}\n${at()} ${others.ed25519}`,
    openssh: "refuse",
  },
  {
    title: "the host's ed25519 key, and another ECDSA key",
    text: () => `${at()} ${others.ecdsa}\n${at()} ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "comments, blank lines, tabs, leading blanks and a trailing comment",
    text: () => `# servers\n\n \t${at()}\t${keys().ed25519}  root@vps # the box\n`,
    openssh: "accept",
  },
  {
    title: "CRLF line endings",
    text: () => `# servers\r\n${at()} ${keys().ed25519}\r\n`,
    openssh: "accept",
  },
  {
    title: "unreadable lines for other hosts are skipped",
    text: () =>
      [
        "just-a-host",
        `other.example ssh-ed25519 not*base64`,
        `other.example ssh-rsa ${keys().ed25519.split(" ")[1]}`,
        `${at()} ${keys().ed25519}`,
      ].join("\n"),
    openssh: "accept",
  },
  {
    title: "an unreadable line for the host is skipped as OpenSSH skips it",
    text: () => `${at()} ssh-ed25519 ${keys().ed25519.split(" ")[1]!.slice(0, 20)}*`,
    openssh: "refuse",
    message: /line 1 was skipped \(the key is not base64\)/,
  },
  {
    title: "an unknown marker makes the line unreadable",
    text: () => `@trusted ${at()} ${keys().ed25519}`,
    openssh: "refuse",
    message: /unknown marker @trusted/,
  },
  {
    title: "two markers make the line unreadable; the plain line still counts",
    text: () => `@revoked @cert-authority * ${keys().ed25519}\n${at()} ${keys().ed25519}`,
    openssh: "accept",
  },
  {
    title: "a key type that is not the key's",
    text: () => `${at()} ssh-rsa ${keys().ed25519.split(" ")[1]}`,
    openssh: "refuse",
    message: /the key is not a ssh-rsa key/,
  },
];

/** The known_hosts line as OpenSSH's ssh-keygen -H hashes it. */
function hashedByOpenssh(line: string): string {
  const file = join(scratch, `hash-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${line}\n`);
  execFileSync("ssh-keygen", ["-H", "-f", file], { stdio: "ignore" });
  return readFileSync(file, "utf8").trim();
}

async function opensshVerdict(
  text: string,
  host: string,
  plainKeysOnly = false,
): Promise<{ verdict: Verdict; why: string }> {
  const file = join(scratch, "known_hosts");
  writeFileSync(file, text);
  const algorithms = plainKeysOnly
    ? ["-o", "HostKeyAlgorithms=ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256"]
    : [];
  const result = await $({
    nothrow: true,
    quiet: true,
  })`ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o ${`UserKnownHostsFile=${file}`} -o GlobalKnownHostsFile=/dev/null -o CheckHostIP=no ${algorithms} -o IdentitiesOnly=yes -o ConnectTimeout=10 -i ${box.privateKeyPath} -p ${port()} ${`root@${host}`} true`;
  if (result.exitCode !== 0 && !/host key|HOST IDENTIFICATION|REVOKED/i.test(result.stderr))
    throw new Error(`ssh failed for another reason than the host key: ${result.stderr}`);
  return { verdict: result.exitCode === 0 ? "accept" : "refuse", why: result.stderr.trim() };
}

async function ourVerdict(text: string, host: string): Promise<{ verdict: Verdict; why: string }> {
  try {
    const executor = await SshExecutor.connect(
      {
        host,
        port: port(),
        username: "root",
        privateKey: readFileSync(box.privateKeyPath, "utf8"),
        knownHosts: text,
      },
      { log: () => {}, redactor: new Redactor() },
    );
    executor.close();
    return { verdict: "accept", why: "" };
  } catch (error) {
    if (error instanceof HostKeyError) return { verdict: "refuse", why: error.message };
    throw error;
  }
}

beforeAll(async () => {
  box = vpsBox();
  scratch = mkdtempSync(join(tmpdir(), "qgo-known-hosts-"));
  for (const type of ["ed25519", "ecdsa"] as const) {
    const key = join(scratch, `other_${type}`);
    await $({ quiet: true })`ssh-keygen -q -t ${type} -N ${""} -f ${key}`;
    others[type] = readFileSync(`${key}.pub`, "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
  }
});

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("known_hosts checked as OpenSSH's client checks it (box sshd)", () => {
  it.each(cases)("$title", async (c) => {
    const text = c.text();
    const host = c.connectAs ?? "127.0.0.1";
    const openssh = await opensshVerdict(text, host, c.plainKeysOnly);
    expect(openssh.verdict, `OpenSSH's verdict (the ground truth moved?): ${openssh.why}`).toBe(
      c.openssh,
    );
    const ours = await ourVerdict(text, host);
    if (c.stricter) {
      expect(ours.verdict).toBe("refuse");
      expect(ours.why).toMatch(c.stricter);
    } else {
      expect(ours.verdict, `ours: ${ours.why}`).toBe(openssh.verdict);
    }
    if (c.message) expect(ours.why).toMatch(c.message);
  });
});

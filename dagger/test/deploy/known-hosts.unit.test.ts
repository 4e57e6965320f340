// known_hosts as OpenSSH reads it, without a server (the verdicts against OpenSSH's own client
// on the box's sshd are in known-hosts-conformance.test.ts).
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import {
  hostKeyAlgorithms,
  hostKeyVerdict,
  hostsFieldMatches,
  keysForHost,
  knownHostsName,
  parseKnownHosts,
} from "../../src/deploy/known-hosts.js";

const blob = (type: string, fill: number) =>
  Buffer.concat([
    Buffer.from([0, 0, 0, type.length]),
    Buffer.from(type),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, fill),
  ]);
const key = blob("ssh-ed25519", 7);
const other = blob("ssh-ed25519", 9);
const b64 = (k: Buffer) => k.toString("base64");
const hashed = (name: string, salt = Buffer.alloc(20, 3)) =>
  `|1|${salt.toString("base64")}|${createHmac("sha1", salt).update(name).digest("base64")}`;

describe("known_hosts lines", () => {
  const line = `[127.0.0.1]:2222 ssh-ed25519 ${b64(key)}`;

  it("matches [host]:port lines and only the exact key", () => {
    const keys = keysForHost(line, "127.0.0.1", 2222);
    expect(hostKeyVerdict(keys, key)).toEqual({ ok: true });
    expect(hostKeyVerdict(keys, other)).toEqual({ ok: false, revoked: false });
    expect(hostKeyAlgorithms(keys)).toEqual(["ssh-ed25519"]);
  });

  it("looks up host on port 22 and [host]:port elsewhere, case-folded", () => {
    expect(knownHostsName("Example.COM", 22)).toBe("example.com");
    expect(knownHostsName("10.0.0.1", 2222)).toBe("[10.0.0.1]:2222");
    expect(() => keysForHost(line, "127.0.0.1", 22)).toThrow(
      /No usable known_hosts entry for 127.0.0.1\./,
    );
    expect(() => keysForHost(line, "10.0.0.1", 2222)).toThrow(/No usable known_hosts entry/);
    // As ssh(1): with no line for [host]:port at all, the port-less name's lines count...
    const portless = `127.0.0.1 ssh-ed25519 ${b64(key)}`;
    expect(hostKeyVerdict(keysForHost(portless, "127.0.0.1", 2222), key)).toEqual({ ok: true });
    // ...but not when a [host]:port line exists, even with another key.
    const both = `[127.0.0.1]:2222 ssh-ed25519 ${b64(other)}\n${portless}`;
    expect(hostKeyVerdict(keysForHost(both, "127.0.0.1", 2222), key).ok).toBe(false);
  });

  it("patterns: * and ?, negation wins, patterns and names compared case-insensitively", () => {
    expect(hostsFieldMatches("[127.0.0.*]:2222", "[127.0.0.1]:2222")).toBe(true);
    expect(hostsFieldMatches("[127.0.0.?]:222?", "[127.0.0.1]:2222")).toBe(true);
    expect(hostsFieldMatches("*", "[127.0.0.1]:2222")).toBe(true);
    expect(hostsFieldMatches("127.0.0.1", "[127.0.0.1]:2222")).toBe(false);
    expect(hostsFieldMatches("![127.0.0.1]:2222,*", "[127.0.0.1]:2222")).toBe(false);
    expect(hostsFieldMatches("!*.example.com,*", "[127.0.0.1]:2222")).toBe(true);
    expect(hostsFieldMatches("WWW.Example.com", "www.example.com")).toBe(true);
    expect(hostsFieldMatches("www.example.com.evil", "www.example.com")).toBe(false);
  });

  it("hashed names (ssh-keyscan -H) are one entry, compared whole", () => {
    const name = "[127.0.0.1]:2222";
    expect(hostsFieldMatches(hashed(name), name)).toBe(true);
    expect(hostsFieldMatches(hashed(name), "[127.0.0.1]:2223")).toBe(false);
    // OpenSSH compares the whole field with the hash: a pattern after it never matches.
    expect(hostsFieldMatches(`${hashed("other")},*`, name)).toBe(false);
    // The salt must be 20 bytes: a shorter one makes the line unreadable.
    const shortSalt = hashed(name, Buffer.alloc(8, 1));
    expect(parseKnownHosts(`${shortSalt} ssh-ed25519 ${b64(key)}`).keys).toEqual([]);
  });

  it("@revoked refuses the key whatever other lines say; @cert-authority lines are not host keys", () => {
    const text = [
      line,
      `@revoked * ssh-ed25519 ${b64(key)}`,
      `@cert-authority * ssh-ed25519 ${b64(other)}`,
    ].join("\n");
    const keys = keysForHost(text, "127.0.0.1", 2222);
    expect(hostKeyVerdict(keys, key)).toEqual({ ok: false, revoked: true });
    expect(hostKeyVerdict(keys, other)).toEqual({ ok: false, revoked: false });
    expect(() =>
      keysForHost(`@cert-authority * ssh-ed25519 ${b64(other)}`, "127.0.0.1", 2222),
    ).toThrow(/@cert-authority line is not used: host certificates are not verified here/);
  });

  it("skips what OpenSSH skips (for any host), and names the skipped lines when none is usable", () => {
    const text = [
      "just-a-host",
      `[other]:1 ssh-ed25519 not*base64`,
      `@bogus ${line}`,
      `[127.0.0.1]:2222 ssh-rsa ${b64(key)}`,
      "# a comment",
      "",
    ].join("\r\n");
    const { keys, ignored } = parseKnownHosts(text);
    expect(keys).toEqual([]);
    expect(ignored.map((i) => [i.line, i.reason])).toEqual([
      [1, "no key type after the host names"],
      [2, "the key is not base64"],
      [3, "unknown marker @bogus (only @cert-authority and @revoked exist)"],
      [4, "the key is not a ssh-rsa key"],
    ]);
    expect(() => keysForHost(text, "127.0.0.1", 2222)).toThrow(
      /line 4 was skipped \(the key is not a ssh-rsa key\)/,
    );
    // With one good line besides them, the skipped lines change nothing.
    expect(keysForHost(`${text}\r\n${line} comment\r\n`, "127.0.0.1", 2222).accepted).toHaveLength(
      1,
    );
  });

  it("tabs, leading blanks, comments and several key types per host", () => {
    const ecdsa = blob("ecdsa-sha2-nistp256", 1);
    const rsa = blob("ssh-rsa", 2);
    const text = [
      `\t [127.0.0.1]:2222\tssh-rsa ${b64(rsa)} root@host`,
      `[127.0.0.1]:2222 ecdsa-sha2-nistp256 ${b64(ecdsa)}`,
      line,
    ].join("\n");
    const keys = keysForHost(text, "127.0.0.1", 2222);
    // Offered in OpenSSH's order, so the server presents the type OpenSSH would check.
    expect(hostKeyAlgorithms(keys)).toEqual([
      "ssh-ed25519",
      "ecdsa-sha2-nistp256",
      "rsa-sha2-512",
      "rsa-sha2-256",
    ]);
    expect(hostKeyVerdict(keys, rsa)).toEqual({ ok: true });
  });
});

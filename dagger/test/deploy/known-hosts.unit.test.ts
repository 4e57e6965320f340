// Strict host-key checking against OpenSSH known_hosts lines.
import { execFileSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import {
  hostKeyIsKnown,
  keysForHost,
  parseKnownHosts,
  hostKeyAlgorithms,
} from "../../src/deploy/known-hosts.js";

describe("known_hosts", () => {
  const key = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, 7),
  ]);
  const other = Buffer.concat([
    Buffer.from([0, 0, 0, 11]),
    Buffer.from("ssh-ed25519"),
    Buffer.from([0, 0, 0, 32]),
    Buffer.alloc(32, 9),
  ]);
  const line = `[127.0.0.1]:2222 ssh-ed25519 ${key.toString("base64")}`;

  it("matches [host]:port lines and only the exact key", () => {
    const entries = keysForHost(line, "127.0.0.1", 2222);
    expect(hostKeyIsKnown(entries, key)).toBe(true);
    expect(hostKeyIsKnown(entries, other)).toBe(false);
    expect(hostKeyAlgorithms(entries)).toEqual(["ssh-ed25519"]);
  });

  it("refuses a host or port without a line before connecting", () => {
    expect(() => keysForHost(line, "127.0.0.1", 22)).toThrow(/No known_hosts entry for 127.0.0.1/);
    expect(() => keysForHost(line, "10.0.0.1", 2222)).toThrow(/No known_hosts entry/);
  });

  it("understands hashed host names, as ssh-keyscan -H writes them", () => {
    const salt = Buffer.alloc(20, 3);
    const hash = execFileSync("node", [
      "-e",
      `const c=require("crypto");process.stdout.write(c.createHmac("sha1",Buffer.from("${salt.toString("base64")}","base64")).update("[127.0.0.1]:2222").digest("base64"))`,
    ]).toString();
    const hashed = `|1|${salt.toString("base64")}|${hash} ssh-ed25519 ${key.toString("base64")}`;
    expect(keysForHost(hashed, "127.0.0.1", 2222)).toHaveLength(1);
    expect(() => keysForHost(hashed, "127.0.0.1", 2223)).toThrow(/No known_hosts entry/);
  });

  it("rejects text that is not a known_hosts line", () => {
    expect(() => parseKnownHosts("just-a-host")).toThrow(/Not a known_hosts line/);
    expect(() => parseKnownHosts(`h ssh-rsa ${key.toString("base64")}`)).toThrow(
      /does not match its key/,
    );
  });
});

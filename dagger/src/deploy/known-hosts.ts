// Strict host-key checking against OpenSSH known_hosts lines. The check runs inside the
// SSH handshake (ssh2's hostVerifier), so a server with another key never sees a command.
import { createHmac } from "node:crypto";

export interface KnownHostKey {
  /** Host patterns of the line (comma-separated field), or a hashed |1|salt|hash entry. */
  patterns: string[];
  keyType: string;
  key: Buffer;
}

export class HostKeyError extends Error {
  override name = "HostKeyError";
}

/** Parses known_hosts text; skips comments, blank lines and @revoked/@cert-authority lines. */
export function parseKnownHosts(text: string): KnownHostKey[] {
  const entries: KnownHostKey[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("@")) continue;
    const [hosts, keyType, keyBase64] = line.split(/\s+/);
    if (!hosts || !keyType || !keyBase64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) {
      throw new HostKeyError(
        `Not a known_hosts line: "${line.slice(0, 60)}". Expected "host key-type base64-key", ` +
          `e.g. the output of ssh-keyscan -p PORT HOST.`,
      );
    }
    const key = Buffer.from(keyBase64, "base64");
    // The key blob starts with its own type name; a mismatch means a corrupted line.
    const blobType = key.length > 4 ? key.subarray(4, 4 + key.readUInt32BE(0)).toString() : "";
    if (blobType !== keyType) {
      throw new HostKeyError(
        `known_hosts line for ${hosts}: key type ${keyType} does not match its key`,
      );
    }
    entries.push({ patterns: hosts.split(","), keyType, key });
  }
  return entries;
}

function globToRegExp(pattern: string): RegExp {
  const escaped = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${escaped}$`, "i");
}

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

function patternMatches(pattern: string, name: string): boolean {
  if (pattern.startsWith("|1|")) {
    const [, , salt, hash] = pattern.split("|");
    if (!salt || !hash) return false;
    const digest = createHmac("sha1", Buffer.from(salt, "base64")).update(name).digest("base64");
    return digest === hash;
  }
  return globToRegExp(pattern).test(name);
}

export function entryMatchesHost(entry: KnownHostKey, host: string, port: number): boolean {
  const name = knownHostsName(host, port);
  let matched = false;
  for (const pattern of entry.patterns) {
    const negated = pattern.startsWith("!");
    if (patternMatches(negated ? pattern.slice(1) : pattern, name)) {
      if (negated) return false;
      matched = true;
    }
  }
  return matched;
}

/** Entries that apply to host:port; throws when there are none (no verified key, no connection). */
export function keysForHost(knownHosts: string, host: string, port: number): KnownHostKey[] {
  const entries = parseKnownHosts(knownHosts).filter((e) => entryMatchesHost(e, host, port));
  if (entries.length === 0) {
    throw new HostKeyError(
      `No known_hosts entry for ${knownHostsName(host, port)}. Pass --known-hosts with the ` +
        `server's line (ssh-keyscan -p ${port} ${host}, checked out of band). Nothing was changed.`,
    );
  }
  return entries;
}

/** SSH host-key algorithms to offer so that the server presents a key we can verify. */
export function hostKeyAlgorithms(entries: KnownHostKey[]): string[] {
  const algorithms = new Set<string>();
  for (const { keyType } of entries) {
    if (keyType === "ssh-rsa") {
      algorithms.add("rsa-sha2-512").add("rsa-sha2-256").add("ssh-rsa");
    } else {
      algorithms.add(keyType);
    }
  }
  return [...algorithms];
}

export function hostKeyIsKnown(entries: KnownHostKey[], presentedKey: Buffer): boolean {
  return entries.some((entry) => entry.key.equals(presentedKey));
}

// Strict host-key checking with OpenSSH's known_hosts rules (sshd(8) "SSH_KNOWN_HOSTS FILE
// FORMAT", as hostfile.c and match.c implement them): markers, hashed names, `*`/`?` patterns
// and negation, `[host]:port` for ports other than 22 (and, as ssh(1) does, the port-less name
// when no line names [host]:port), several keys per host, comments. A line
// OpenSSH cannot read is ignored, as OpenSSH ignores it. Where the two differ, this check is
// stricter and says why: host certificates (@cert-authority) are not verified. The check runs
// inside the SSH handshake (ssh2's hostVerifier), so a server with another key sees no command.
import { createHmac } from "node:crypto";

export type Marker = "cert-authority" | "revoked";

/** One readable known_hosts line. */
export interface KnownHostKey {
  /** 1-based line number in the known_hosts text. */
  line: number;
  marker?: Marker;
  /** The host names field as written: a comma-separated pattern list, or one |1|salt|hash. */
  hosts: string;
  keyType: string;
  key: Buffer;
}

/** A line OpenSSH would skip, and why: shown when no line fits the host. */
export interface IgnoredLine {
  line: number;
  text: string;
  reason: string;
}

export class HostKeyError extends Error {
  override name = "HostKeyError";
}

/** The key types ssh2 can verify, in OpenSSH 9's preference order (ssh(1) HostKeyAlgorithms). */
const ALGORITHMS_OF_KEY_TYPE: [keyType: string, algorithms: string[]][] = [
  ["ssh-ed25519", ["ssh-ed25519"]],
  ["ecdsa-sha2-nistp256", ["ecdsa-sha2-nistp256"]],
  ["ecdsa-sha2-nistp384", ["ecdsa-sha2-nistp384"]],
  ["ecdsa-sha2-nistp521", ["ecdsa-sha2-nistp521"]],
  // RSA keys are signed with SHA-2 only: OpenSSH 8.8+ refuses ssh-rsa (SHA-1) signatures.
  ["ssh-rsa", ["rsa-sha2-512", "rsa-sha2-256"]],
];

/** Reads known_hosts text: the lines OpenSSH can read, and those it would skip. */
export function parseKnownHosts(text: string): { keys: KnownHostKey[]; ignored: IgnoredLine[] } {
  const keys: KnownHostKey[] = [];
  const ignored: IgnoredLine[] = [];
  text.split("\n").forEach((raw, index) => {
    const line = index + 1;
    // Fields are separated by spaces and tabs only; a CRLF file's \r ends the last field.
    let rest = raw.replace(/\r$/, "").replace(/^[ \t]+/, "");
    if (rest === "" || rest.startsWith("#")) return;
    const skip = (reason: string) => ignored.push({ line, text: raw.slice(0, 80), reason });
    let marker: Marker | undefined;
    if (rest.startsWith("@")) {
      const [word = ""] = rest.split(/[ \t]/, 1);
      if (word !== "@cert-authority" && word !== "@revoked")
        return skip(`unknown marker ${word} (only @cert-authority and @revoked exist)`);
      marker = word === "@revoked" ? "revoked" : "cert-authority";
      rest = rest.slice(word.length).replace(/^[ \t]+/, "");
      if (rest.startsWith("@")) return skip("more than one marker");
    }
    const [hosts = "", keyType = "", keyBase64 = ""] = rest.split(/[ \t]+/);
    if (!keyType || keyType.startsWith("#")) return skip("no key type after the host names");
    if (!keyBase64 || keyBase64.startsWith("#")) return skip("no key after the key type");
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(keyBase64)) return skip("the key is not base64");
    const key = Buffer.from(keyBase64, "base64");
    // The key blob starts with its own type name; a mismatch means a corrupted line.
    const nameLength = key.length >= 4 ? key.readUInt32BE(0) : 0;
    if (key.subarray(4, 4 + nameLength).toString("latin1") !== keyType)
      return skip(`the key is not a ${keyType} key`);
    if (hosts.startsWith("|") && !hashedSalt(hosts))
      return skip("a hashed host name that is not |1|salt|hash");
    keys.push({ line, ...(marker ? { marker } : {}), hosts, keyType, key });
  });
  return { keys, ignored };
}

/** The name OpenSSH looks up: "host" on port 22, "[host]:port" otherwise; lower-cased. */
export function knownHostsName(host: string, port: number): string {
  const name = host.toLowerCase();
  return port === 22 ? name : `[${name}]:${port}`;
}

/** The salt of a |1|salt|hash field, when it is one (OpenSSH: 20 bytes, as SHA-1's HMAC key). */
function hashedSalt(hosts: string): Buffer | undefined {
  const match = /^\|1\|([^|]+)\|/.exec(hosts);
  if (!match?.[1]) return undefined;
  const salt = Buffer.from(match[1], "base64");
  return salt.length === 20 ? salt : undefined;
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` one; case folded by the caller. */
function globMatches(pattern: string, name: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, "\\$&")
    .replace(/\*/g, "[\\s\\S]*")
    .replace(/\?/g, "[\\s\\S]");
  return new RegExp(`^${source}$`).test(name);
}

/**
 * Whether a line's host names field names `name` (from knownHostsName). A hashed field is one
 * entry, compared whole; otherwise any matching negated pattern (`!pattern`) rules the line
 * out, else any matching pattern rules it in.
 */
export function hostsFieldMatches(hosts: string, name: string): boolean {
  const salt = hosts.startsWith("|") ? hashedSalt(hosts) : undefined;
  if (hosts.startsWith("|")) {
    if (!salt) return false;
    const hash = createHmac("sha1", salt).update(name).digest("base64");
    return hosts === `|1|${salt.toString("base64")}|${hash}`;
  }
  let matched = false;
  for (const pattern of hosts.toLowerCase().split(",")) {
    const negated = pattern.startsWith("!");
    if (!globMatches(negated ? pattern.slice(1) : pattern, name)) continue;
    if (negated) return false;
    matched = true;
  }
  return matched;
}

/** The lines of known_hosts that apply to host:port, ready for the handshake. */
export interface HostKeys {
  name: string;
  /** Plain lines: the presented key must be one of these. */
  accepted: KnownHostKey[];
  /** @revoked lines: a presented key among these is refused whatever else says. */
  revoked: KnownHostKey[];
  /** Lines OpenSSH would skip (shown in errors). */
  ignored: IgnoredLine[];
}

/**
 * The keys for host:port. Throws before any connection when no plain line names it with a key
 * type this client can verify, listing the lines that were skipped and why.
 */
export function keysForHost(knownHosts: string, host: string, port: number): HostKeys {
  const { keys, ignored } = parseKnownHosts(knownHosts);
  const linesFor = (name: string) => keys.filter((entry) => hostsFieldMatches(entry.hosts, name));
  let name = knownHostsName(host, port);
  let forHost = linesFor(name);
  // As ssh(1): with no plain line for [host]:port at all, the host's port-less lines count.
  if (port !== 22 && !forHost.some((entry) => entry.marker === undefined)) {
    const portless = linesFor(knownHostsName(host, 22));
    if (portless.some((entry) => entry.marker === undefined)) {
      forHost = [...forHost.filter((entry) => entry.marker === "revoked"), ...portless];
      name = `${name} (port-less ${knownHostsName(host, 22)})`;
    }
  }
  const accepted = forHost.filter((entry) => entry.marker === undefined);
  const hostKeys = {
    name,
    accepted,
    revoked: forHost.filter((entry) => entry.marker === "revoked"),
    ignored,
  };
  if (hostKeyAlgorithms(hostKeys).length > 0) return hostKeys;
  const why: string[] = [];
  if (forHost.some((entry) => entry.marker === "cert-authority"))
    why.push(
      `its @cert-authority line is not used: host certificates are not verified here, so ` +
        `add the server's own host key line`,
    );
  if (accepted.length > 0)
    why.push(
      `its lines hold key types this client cannot verify (${accepted.map((e) => e.keyType).join(", ")}; ` +
        `use ed25519, ECDSA or RSA)`,
    );
  for (const skipped of ignored)
    why.push(`line ${skipped.line} was skipped (${skipped.reason}): "${skipped.text}"`);
  throw new HostKeyError(
    `No usable known_hosts entry for ${name}${why.length ? `: ${why.join("; ")}` : ""}. Pass the ` +
      `server's line (ssh-keyscan -p ${port} ${host}, checked out of band) in knownHosts or ` +
      `--known-hosts. Nothing was changed.`,
  );
}

/** The host-key algorithms to offer, in OpenSSH's order, so that the server presents a known type. */
export function hostKeyAlgorithms(hostKeys: HostKeys): string[] {
  const types = new Set(hostKeys.accepted.map((entry) => entry.keyType));
  return ALGORITHMS_OF_KEY_TYPE.filter(([type]) => types.has(type)).flatMap(([, algs]) => algs);
}

/** OpenSSH's verdict on the presented key: known and not revoked. */
export function hostKeyVerdict(
  hostKeys: HostKeys,
  presented: Buffer,
): { ok: true } | { ok: false; revoked: boolean } {
  if (hostKeys.revoked.some((entry) => entry.key.equals(presented)))
    return { ok: false, revoked: true };
  if (hostKeys.accepted.some((entry) => entry.key.equals(presented))) return { ok: true };
  return { ok: false, revoked: false };
}

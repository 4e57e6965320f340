// Throwaway SSH keys made at test time by OpenSSH's ssh-keygen (no key is kept in the repository).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export type KeyType = "ed25519" | "ecdsa" | "rsa";

/** A private key in OpenSSH's format (or PEM with `pem`), optionally encrypted, and its public line. */
export function sshKeygen(
  type: KeyType = "ed25519",
  options: { passphrase?: string; pem?: boolean } = {},
): { privateKey: string; publicKey: string } {
  const dir = mkdtempSync(join(tmpdir(), "qgo-key-"));
  try {
    const file = join(dir, "key");
    const size = type === "rsa" ? ["-b", "2048"] : [];
    const format = options.pem ? ["-m", "PEM"] : [];
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      type,
      ...size,
      ...format,
      "-N",
      options.passphrase ?? "",
      "-C",
      "qgo-test",
      "-f",
      file,
    ]);
    return {
      privateKey: readFileSync(file, "utf8"),
      publicKey: readFileSync(`${file}.pub`, "utf8").trim(),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

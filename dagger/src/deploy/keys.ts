// SSH keys as people have them: ed25519, ECDSA and RSA, in OpenSSH's own format or PEM,
// with or without a passphrase. Checked with ssh2's own parser before any connection, so a
// key that cannot work fails with what to do instead of a handshake error.
import { createHash } from "node:crypto";
// ssh2 is CommonJS: Node's ESM loader finds `Client` among its named exports, not `utils`.
import ssh2 from "ssh2";
import { DeployConfigError } from "./environments.js";

const FIX_FORMAT =
  "convert it to OpenSSH's format with `ssh-keygen -p -f KEYFILE` (it rewrites the file in place; keep a copy)";

/** Throws DeployConfigError when ssh2 cannot use the key with this passphrase. */
export function checkPrivateKey(privateKey: string, passphrase?: string): void {
  if ((privateKey ?? "").trim() === "") {
    throw new DeployConfigError(
      `Missing secret: the SSH deploy key (--ssh-key env://DEPLOY_SSH_KEY) is empty. Nothing was changed.`,
    );
  }
  if (!/-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----/.test(privateKey)) {
    throw new DeployConfigError(
      `The SSH deploy key (--ssh-key) is not an OpenSSH/PEM private key. Nothing was changed.`,
    );
  }
  const parsed = ssh2.utils.parseKey(privateKey, passphrase || undefined);
  if (!(parsed instanceof Error)) return;
  const message = parsed.message;
  if (/no passphrase given/i.test(message)) {
    throw new DeployConfigError(
      `The SSH deploy key is encrypted: pass its passphrase as a Secret, --ssh-key-passphrase env://DEPLOY_SSH_KEY_PASSPHRASE ` +
        `(or file://…). Nothing was changed.`,
    );
  }
  if (/passphrase/i.test(message)) {
    throw new DeployConfigError(
      `The SSH deploy key could not be decrypted: the passphrase (--ssh-key-passphrase) is wrong. Nothing was changed.`,
    );
  }
  if (/BEGIN (ENCRYPTED )?PRIVATE KEY/.test(privateKey)) {
    throw new DeployConfigError(
      `The SSH deploy key is in PKCS#8 form ("BEGIN PRIVATE KEY"), which the SSH client cannot read: for an RSA or ECDSA key, ` +
        `${FIX_FORMAT}; for ed25519 (OpenSSH cannot convert those), make a new key with ` +
        `\`ssh-keygen -t ed25519 -f qgo_deploy\` and add qgo_deploy.pub to the server's authorized_keys. Nothing was changed.`,
    );
  }
  throw new DeployConfigError(
    `The SSH deploy key cannot be read (${message}): use an ed25519, ECDSA or RSA key; ${FIX_FORMAT}. Nothing was changed.`,
  );
}

/** A key's SHA256 fingerprint as `ssh-keygen -lf` and `ssh` print it (SHA256:<base64, no padding>). */
export function fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash("sha256").update(keyBlob).digest("base64").replace(/=+$/, "")}`;
}

/** The algorithm name a key blob starts with (ssh-ed25519, ecdsa-sha2-nistp256, ssh-rsa...). */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return "unknown";
  const length = keyBlob.readUInt32BE(0);
  return keyBlob.subarray(4, 4 + length).toString("latin1");
}

// SSH keys as people have them (ed25519, ECDSA, RSA; OpenSSH or PEM format; with a passphrase),
// checked before any connection; fingerprints exactly as OpenSSH's ssh-keygen prints them.
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { describe, expect, it } from "vitest";
import { checkPrivateKey, fingerprint, keyTypeOf } from "../../src/deploy/keys.js";
import { sshKeygen, type KeyType } from "./ssh-keys.js";

const blobOf = (publicLine: string) => Buffer.from(publicLine.split(/\s+/)[1] ?? "", "base64");

describe("deploy keys", () => {
  it("accepts ed25519, ECDSA and RSA keys, in OpenSSH's format and RSA in PEM", () => {
    for (const type of ["ed25519", "ecdsa", "rsa"] as KeyType[]) {
      expect(() => checkPrivateKey(sshKeygen(type).privateKey), type).not.toThrow();
    }
    expect(() => checkPrivateKey(sshKeygen("rsa", { pem: true }).privateKey)).not.toThrow();
  });

  it("an encrypted key works with its passphrase and says what is missing or wrong otherwise", () => {
    for (const options of [
      { passphrase: "correct horse" },
      { passphrase: "pem-pass", pem: true },
    ]) {
      const type = options.pem ? "rsa" : "ed25519";
      const { privateKey } = sshKeygen(type, options);
      expect(() => checkPrivateKey(privateKey, options.passphrase)).not.toThrow();
      expect(() => checkPrivateKey(privateKey)).toThrow(
        /encrypted: pass its passphrase as a Secret, --ssh-key-passphrase env:\/\//,
      );
      expect(() => checkPrivateKey(privateKey, "wrong one")).toThrow(
        /could not be decrypted: the passphrase \(--ssh-key-passphrase\) is wrong/,
      );
    }
  });

  it("names the fix for a PKCS#8 key and for text that is no key at all", () => {
    const pkcs8 = generateKeyPairSync("ed25519", {
      privateKeyEncoding: { type: "pkcs8", format: "pem" },
      publicKeyEncoding: { type: "spki", format: "pem" },
    }).privateKey;
    expect(() => checkPrivateKey(pkcs8)).toThrow(
      /PKCS#8 form .*RSA or ECDSA key, convert it .*ssh-keygen -p -f KEYFILE.*for ed25519 .*ssh-keygen -t ed25519/,
    );
    expect(() => checkPrivateKey("")).toThrow(/Missing secret: the SSH deploy key/);
    expect(() => checkPrivateKey("hello")).toThrow(/not an OpenSSH\/PEM private key/);
  });

  it("fingerprints are the SHA256 ones ssh-keygen -lf prints, for every key type", () => {
    for (const type of ["ed25519", "ecdsa", "rsa"] as KeyType[]) {
      const { publicKey } = sshKeygen(type);
      const printed = execFileSync("ssh-keygen", ["-lf", "-"], {
        input: `${publicKey}\n`,
        encoding: "utf8",
      }).split(/\s+/)[1];
      expect(fingerprint(blobOf(publicKey)), type).toBe(printed);
      expect(keyTypeOf(blobOf(publicKey))).toBe(publicKey.split(" ")[0]);
    }
  });
});

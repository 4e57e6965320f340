// The box's own certificate authority, kept in the cache: its images trust it (added to the CA
// bundle they copy from the host), as a company's machines trust a company CA. Tests issue
// certificates from it for HTTPS stand-ins on 127.0.0.1 (the pipeline suite's Slack webhook),
// so containers reach them over verified TLS with nothing changed in the module.
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const openssl = (...args: string[]) => execFileSync("openssl", args, { stdio: "pipe" });

export interface TestCa {
  caFile: string;
  keyFile: string;
}

/** The CA, made once per cache dir (a new one would rebuild every base image). */
export function ensureTestCa(cache: string): TestCa {
  const dir = join(cache, "test-ca");
  mkdirSync(dir, { recursive: true });
  const caFile = join(dir, "ca.pem");
  const keyFile = join(dir, "ca-key.pem");
  if (!existsSync(caFile) || !existsSync(keyFile)) {
    openssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      keyFile,
      "-out",
      caFile,
      "-days",
      "3650",
      "-subj",
      "/CN=qgo VPS-in-a-box test CA",
    );
  }
  return { caFile, keyFile };
}

/** A certificate for 127.0.0.1 signed by the CA, in `dir` (server-key.pem, server.pem). */
export function issueLoopbackCertificate(
  ca: TestCa,
  dir: string,
): { keyFile: string; certFile: string } {
  mkdirSync(dir, { recursive: true });
  const keyFile = join(dir, "server-key.pem");
  const certFile = join(dir, "server.pem");
  const csr = join(dir, "server.csr");
  const ext = join(dir, "server.ext");
  openssl(
    "req",
    "-newkey",
    "rsa:2048",
    "-nodes",
    "-keyout",
    keyFile,
    "-out",
    csr,
    "-subj",
    "/CN=127.0.0.1",
  );
  writeFileSync(ext, "subjectAltName=IP:127.0.0.1\n");
  openssl(
    "x509",
    "-req",
    "-in",
    csr,
    "-CA",
    ca.caFile,
    "-CAkey",
    ca.keyFile,
    "-CAcreateserial",
    "-out",
    certFile,
    "-days",
    "30",
    "-extfile",
    ext,
  );
  return { keyFile, certFile };
}

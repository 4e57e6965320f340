// A local stand-in of Slack's incoming webhook: HTTPS on 127.0.0.1 with a certificate from the
// VPS-in-a-box's test CA, which the box's images trust (test/vps/test-ca.ts). It records what it
// receives and answers "ok" like Slack.
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { ensureTestCa, issueLoopbackCertificate } from "../vps/test-ca.js";

export interface SlackStandIn {
  url: string;
  received: { path: string; body: string }[];
  /** The HTTP status the next posts get (200, like Slack). */
  answer: number;
  stop(): Promise<void>;
}

export async function startSlackStandIn(cacheDir: string): Promise<SlackStandIn> {
  const dir = mkdtempSync(join(tmpdir(), "qgo-slack-"));
  const { keyFile, certFile } = issueLoopbackCertificate(ensureTestCa(cacheDir), dir);
  const received: SlackStandIn["received"] = [];
  const server: Server = createServer(
    { key: readFileSync(keyFile), cert: readFileSync(certFile) },
    (req, res) => {
      let body = "";
      req.on("data", (chunk: Buffer) => (body += chunk.toString()));
      req.on("end", () => {
        received.push({ path: req.url ?? "", body });
        const status = standIn.answer;
        res
          .writeHead(status, { "content-type": "text/plain" })
          .end(status === 200 ? "ok" : "no_service");
      });
    },
  );
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const { port } = server.address() as AddressInfo;
  const standIn: SlackStandIn = {
    url: `https://127.0.0.1:${port}/services/T000/B000/standin`,
    received,
    answer: 200,
    stop: async () => {
      await new Promise<void>((ok) => server.close(() => ok()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return standIn;
}

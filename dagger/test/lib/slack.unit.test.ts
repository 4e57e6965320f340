// The one Slack client, against a real local HTTP server: what it posts, and that no outcome
// carries the webhook URL (its path is the credential).
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { postToSlack } from "../../src/lib/slack.js";

let server: Server;
let base = "";
const received: { path: string; body: string }[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk: Buffer) => (body += chunk.toString()));
    req.on("end", () => {
      received.push({ path: req.url ?? "", body });
      if (req.url?.startsWith("/services/")) res.writeHead(200).end("ok");
      else res.writeHead(404).end("no_service");
    });
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => server.close());

describe("postToSlack", () => {
  it("posts Slack's JSON and reports the status", async () => {
    expect(await postToSlack(`${base}/services/T0/B0/secret-token`, "deployed ✅")).toEqual({
      ok: true,
      status: 200,
    });
    expect(received.at(-1)).toEqual({
      path: "/services/T0/B0/secret-token",
      body: JSON.stringify({ text: "deployed ✅" }),
    });
  });

  it("says why a post failed, never with the URL", async () => {
    const refused = await postToSlack(`${base}/nowhere/secret-token`, "x");
    expect(refused).toEqual({ ok: false, reason: "Slack answered HTTP 404: no_service" });
    // A port nothing listens on (fetch refuses well-known ports such as 9 before connecting).
    const spare = createServer();
    await new Promise<void>((ok) => spare.listen(0, "127.0.0.1", ok));
    const port = (spare.address() as AddressInfo).port;
    await new Promise<void>((ok) => spare.close(() => ok()));
    const closed = await postToSlack(`http://127.0.0.1:${port}/services/secret-token`, "x");
    expect(closed.ok).toBe(false);
    expect(JSON.stringify(closed)).toMatch(/ECONNREFUSED/);
    expect(await postToSlack("not a url secret-token", "x")).toEqual({
      ok: false,
      reason: "the webhook is not a URL",
    });
    expect(await postToSlack("ftp://h/secret-token", "x")).toEqual({
      ok: false,
      reason: "the webhook is not an http(s) URL",
    });
    for (const outcome of [refused, closed])
      expect(JSON.stringify(outcome)).not.toContain("secret-token");
  });
});

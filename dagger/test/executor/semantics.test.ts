// One small test per semantic rule of the executing engine, on the box's Docker engine, with
// raw GraphQL queries as the SDK sends them (no module in between). Each names the Dagger
// v0.21.8 behaviour it reproduces.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { StandInEngine } from "../standin/engine.js";
import { vpsBox } from "../vps/helpers.js";
import { Executor } from "./executor.js";

let engine: StandInEngine;
let executor: Executor;
let hostDir: string;
const NODE = "node:22-alpine";

beforeAll(async () => {
  const box = vpsBox();
  executor = await Executor.start({
    dockerHost: box.dockerHost,
    dockerConfigDir: box.dockerConfigDir,
    images: { [NODE]: box.baseImages.node, "mysql:8.4": box.baseImages.db },
  });
  engine = await StandInEngine.start({ evaluator: executor });
  hostDir = mkdtempSync(join(tmpdir(), "qgo-semantics-"));
  mkdirSync(join(hostDir, "a", "b"), { recursive: true });
  writeFileSync(join(hostDir, "a", "b", "c.txt"), "c");
  writeFileSync(join(hostDir, "top.txt"), "top");
});
afterAll(async () => {
  await engine?.stop();
  await executor?.stop();
  if (hostDir) rmSync(hostDir, { recursive: true, force: true });
});

interface Reply {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown> }[];
}

async function query(text: string): Promise<Reply> {
  return (await engine.request(text)) as Reply;
}

/** The value at a path of nested single-field objects: data.container.from.withExec.stdout. */
function leaf(reply: Reply): unknown {
  if (reply.errors?.length) throw new Error(reply.errors.map((e) => e.message).join("; "));
  let value: unknown = reply.data;
  while (value && typeof value === "object") value = Object.values(value)[0];
  return value;
}

const from = `container { from(address: "${NODE}")`;

describe("withExec", () => {
  it("runs the argv as given, without a shell and without the image's entrypoint", async () => {
    const out = leaf(
      await query(`{ ${from} { withExec(args: ["echo", "$HOME", "*"]) { stdout } } } }`),
    );
    expect(out).toBe("$HOME *\n");
  });

  it("a non-zero exit fails as ExecError does: 'exit code: N', with cmd, exit code, stdout and stderr", async () => {
    const reply = await query(
      `{ ${from} { withExec(args: ["sh", "-c", "echo out; echo err >&2; exit 3"]) { stdout } } } }`,
    );
    const error = reply.errors?.[0];
    expect(error?.message).toMatch(/^exit code: 3 \[traceparent:[0-9a-f]{32}-[0-9a-f]{16}\]$/);
    expect(error?.extensions).toEqual({
      _type: "EXEC_ERROR",
      exitCode: 3,
      stdout: "out",
      stderr: "err",
      cmd: ["sh", "-c", "echo out; echo err >&2; exit 3"],
    });
  });

  it("stdout is the last exec's, and survives later config steps", async () => {
    const out = leaf(
      await query(
        `{ ${from} { withExec(args: ["echo", "one"]) { withExec(args: ["echo", "two"]) { withEnvVariable(name: "X", value: "y") { stdout } } } } } }`,
      ),
    );
    expect(out).toBe("two\n");
  });

  it("a relative workdir joins the current one; a missing one is created", async () => {
    const out = leaf(
      await query(
        `{ ${from} { withWorkdir(path: "/srv") { withWorkdir(path: "app") { withExec(args: ["pwd"]) { stdout } } } } } }`,
      ),
    );
    expect(out).toBe("/srv/app\n");
  });
});

describe("directories", () => {
  it("withDirectory's include keeps paths relative to the copied directory", async () => {
    const dir = engine.hostDirectory(hostDir);
    const out = leaf(
      await query(
        `{ ${from} { withDirectory(path: "/dst", source: "${dir}", include: ["a/b/c.txt"]) { withExec(args: ["find", "/dst", "-type", "f"]) { stdout } } } } }`,
      ),
    );
    expect(out).toBe("/dst/a/b/c.txt\n");
  });

  it("a host directory's exclude drops matching paths and everything below them", async () => {
    const dir = engine.hostDirectory(hostDir, ["a"]);
    const out = leaf(
      await query(
        `{ ${from} { withDirectory(path: "/dst", source: "${dir}") { withExec(args: ["find", "/dst", "-type", "f"]) { stdout } } } } }`,
      ),
    );
    expect(out).toBe("/dst/top.txt\n");
  });
});

describe("files", () => {
  it("withNewFile then file().contents: the file's bytes, parents created", async () => {
    const out = leaf(
      await query(
        `{ directory { withNewFile(path: "a/b.txt", contents: "line 1\\n") { file(path: "a/b.txt") { contents } } } }`,
      ),
    );
    expect(out).toBe("line 1\n");
  });
});

describe("secrets", () => {
  it("a secret variable reaches the command, is scrubbed from its output, and is in no image", async () => {
    const value = `s3cr3t-${Date.now()}`;
    const mark = executor.imageCount;
    const secret = leaf(await query(`{ setSecret(name: "token", plaintext: "${value}") { id } }`));
    const out = leaf(
      await query(
        `{ ${from} { withSecretVariable(name: "TOKEN", secret: "${String(secret)}") { withExec(args: ["sh", "-c", "echo $TOKEN; test \\"$TOKEN\\" = ${value} && echo same"]) { stdout } } } } }`,
      ),
    );
    expect(out).toBe("***\nsame\n");
    expect(await executor.imagesMentioning(value, mark)).toEqual([]);
    // The scan finds a value that is in a layer: a command that writes the secret to a file.
    const leaked = executor.imageCount;
    await query(
      `{ ${from} { withSecretVariable(name: "TOKEN", secret: "${String(secret)}") { withExec(args: ["sh", "-c", "echo $TOKEN > /leaked"]) { sync } } } } }`,
    );
    expect(await executor.imagesMentioning(value, leaked)).toHaveLength(1);
  });
});

describe("cache volumes", () => {
  it("a named cache keeps its files across containers, and its contents are in no image", async () => {
    const stamp = `cache-content-${Date.now()}`;
    const mark = executor.imageCount;
    const cache = String(leaf(await query(`{ cacheVolume(key: "semantics") { id } }`)));
    const mounted = `${from} { withMountedCache(path: "/cache", cache: "${cache}")`;
    await query(
      `{ ${mounted} { withExec(args: ["sh", "-c", "echo ${stamp} > /cache/stamp"]) { sync } } } } }`,
    );
    const read = leaf(
      await query(`{ ${mounted} { withExec(args: ["cat", "/cache/stamp"]) { stdout } } } } }`),
    );
    expect(read).toBe(`${stamp}\n`);
    expect(await executor.imagesMentioning(stamp, mark)).toEqual([]);
  });
});

describe("services", () => {
  it("a bound service starts first, health-gated, answers under its alias only, and stops afterwards", async () => {
    const service = String(
      leaf(
        await query(
          `{ ${from} { withExposedPort(port: 8080) { withExec(args: ["true"]) { asService(args: ["node", "-e", "setTimeout(() => require('http').createServer((q, s) => s.end('pong')).listen(8080), 3000)"]) { id } } } } } }`,
        ),
      ),
    );
    const out = leaf(
      await query(
        `{ ${from} { withServiceBinding(alias: "pinger", service: "${service}") { withExec(args: ["node", "-e", "fetch('http://pinger:8080').then(r => r.text()).then(t => console.log(t))"]) { stdout } } } } }`,
      ),
    );
    expect(out).toBe("pong\n");
    // The grace period passes, then the service is gone.
    await new Promise((ok) => setTimeout(ok, 12_000));
    const running = await executor.docker.check([
      "ps",
      "--filter",
      "network=" + executor.networkName,
      "--format",
      "{{.ID}}",
    ]);
    expect(running).toBe("");
  });
});

// What the executor keeps and logs of a command's output, with real processes: a stream of
// 100 000 lines, escape sequences, a secret split by one, a line without end. First the capture
// the executor composes (LineSink + BoundedLines) fed by a local bash, then the executor itself
// over SSH, against an ssh2 server in this process that runs each command with a local sh.
import { spawn } from "node:child_process";
import type { AddressInfo } from "node:net";
import { Server } from "ssh2";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  HEAD_LINES,
  linesNotKeptMarker,
  OutputCapture,
  TAIL_LINES,
} from "../../src/deploy/bounded-output.js";
import { SshExecutor } from "../../src/deploy/executor.js";
import { LINE_CAP, notKeptMarker, Redactor } from "../../src/deploy/redact.js";
import { sshKeygen } from "./ssh-keys.js";

const SECRET = "s3cret-registry-password";
/** 100 000 numbered lines, a coloured one, a secret split by an escape sequence. */
const NOISY = String.raw`seq 1 100000; printf '\033[31mred\033[0m\r\n'; printf 'pw s3cret-regis\033[0mtry-password\n'`;
const TOTAL = 100_002;
const NOT_KEPT = TOTAL - HEAD_LINES - TAIL_LINES;
// eslint-disable-next-line no-control-regex
const ACTIVE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

/** The lines a capture must keep of NOISY's output: head, marker, tail. */
function expectedKept(): string[] {
  const numbers = (from: number, to: number) =>
    Array.from({ length: to - from + 1 }, (_, i) => String(from + i));
  return [
    ...numbers(1, HEAD_LINES),
    linesNotKeptMarker(NOT_KEPT),
    ...numbers(100_000 - TAIL_LINES + 3, 100_000),
    "red",
    "pw ***",
  ];
}

describe("OutputCapture with a real process", () => {
  it("keeps and logs the head, the marker and the tail, redacted and printable", async () => {
    const logged: string[] = [];
    const capture = new OutputCapture(new Redactor([SECRET]), (line) => logged.push(line));
    const child = spawn("bash", ["-c", NOISY]);
    child.stdout.on("data", (data: Buffer) => capture.write(data));
    await new Promise((done) => child.on("close", done));
    // Before the end, only the head was logged.
    expect(logged).toHaveLength(HEAD_LINES);
    capture.close();
    expect(capture.text()).toBe(expectedKept().join("\n"));
    expect(logged).toEqual(expectedKept());
  });

  it("decodes a character split between two chunks", () => {
    const logged: string[] = [];
    const capture = new OutputCapture(new Redactor(), (line) => logged.push(line));
    const bytes = Buffer.from("déployé 🚀\n");
    for (let i = 0; i < bytes.length; i++) capture.write(bytes.subarray(i, i + 1));
    capture.close();
    expect(logged).toEqual(["déployé 🚀"]);
  });
});

describe("SshExecutor output, over SSH", () => {
  let server: Server;
  let executor: SshExecutor;
  const logged: string[] = [];

  beforeAll(async () => {
    const hostKey = sshKeygen();
    server = new Server({ hostKeys: [hostKey.privateKey] }, (client) => {
      client.on("authentication", (ctx) => ctx.accept());
      client.on("session", (acceptSession) => {
        acceptSession().on("exec", (acceptExec, _reject, info) => {
          const channel = acceptExec();
          const child = spawn("sh", ["-c", info.command]);
          child.stdout.pipe(channel, { end: false });
          child.stderr.pipe(channel.stderr, { end: false });
          child.stdin.on("error", () => {});
          channel.pipe(child.stdin);
          child.on("close", (code) => {
            channel.exit(code ?? 255);
            channel.end();
          });
        });
      });
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as AddressInfo;
    executor = await SshExecutor.connect(
      {
        host: "127.0.0.1",
        port,
        username: "deploy",
        privateKey: sshKeygen().privateKey,
        knownHosts: `[127.0.0.1]:${port} ${hostKey.publicKey}`,
      },
      { log: (line) => logged.push(line), redactor: new Redactor([SECRET]) },
    );
  });
  afterAll(() => {
    executor?.close();
    server?.close();
  });

  it("keeps the head and the tail of stdout, logs them once, the marker between", async () => {
    logged.length = 0;
    const result = await executor.run({
      step: "noisy",
      description: "prints 100 000 lines",
      script: `set -euo pipefail\n${NOISY}\n`,
      timeoutMs: 60_000,
    });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe(expectedKept().join("\n"));
    const output = logged.filter((line) => !/^(==>|<==) /.test(line));
    expect(output).toEqual(expectedKept().map((line) => `    ${line}`));
    for (const line of logged) expect(line).not.toMatch(ACTIVE);
  });

  it("caps a stderr line that never ends; the error shows the command's last words", async () => {
    logged.length = 0;
    const size = 10 * 1024 * 1024;
    const error = await executor
      .run({
        step: "endless",
        description: "prints 10 MiB without a newline, then fails",
        script: `set -euo pipefail\nhead -c ${size} /dev/zero | tr '\\0' x >&2\necho >&2\nprintf 'migration failed: ok\\rFAILED\\n' >&2\nexit 3\n`,
        timeoutMs: 60_000,
      })
      .then(
        () => new Error("the step did not fail"),
        (e: unknown) => e as Error,
      );
    // Of the LINE_CAP characters held, the last (longest secret - 1) could start a secret.
    const kept = LINE_CAP - (SECRET.length - 1);
    const capped = `${"x".repeat(kept)}${notKeptMarker(size - kept)}`;
    expect(logged).toContain(`    ! ${capped}`);
    expect(logged).toContain("    ! migration failed: okFAILED");
    expect(error.message).toBe(
      `step endless failed (exit 3): ${capped}\nmigration failed: okFAILED`,
    );
  });
});

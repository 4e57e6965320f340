// Secrets are masked in every line of output, also when split across chunks or by escape
// sequences; what is kept of an output is bounded (a line's length, a stream's lines).
import { describe, expect, it } from "vitest";
import {
  BoundedLines,
  HEAD_LINES,
  linesNotKeptMarker,
  TAIL_LINES,
} from "../../src/deploy/bounded-output.js";
import { LINE_CAP, LineSink, notKeptMarker, Redactor } from "../../src/deploy/redact.js";
import { Session } from "../../src/deploy/operation.js";
import { envIn, throwawayKey } from "./unit-support.js";

const ESC = "\u001b";

/** A LineSink and the lines it emitted. */
function sink(secrets: string[] = []): { sink: LineSink; lines: string[] } {
  const lines: string[] = [];
  return { sink: new LineSink(new Redactor(secrets), (l) => lines.push(l)), lines };
}

describe("redaction", () => {
  it("masks secrets even when they arrive split across chunks", () => {
    const redactor = new Redactor(["s3cret-password", undefined, "ab"]);
    const lines: string[] = [];
    const sink = new LineSink(redactor, (l) => lines.push(l));
    sink.write("login with s3cret-pa");
    sink.write("ssword ok\nab stays\n");
    sink.flush();
    expect(lines).toEqual(["login with *** ok", "ab stays"]);
  });

  it("masks a secret that an escape sequence or a control character splits", () => {
    const { sink: out, lines } = sink(["s3cret-password"]);
    out.write(`token s3cret${ESC}[0m-pass\u0000word\n`);
    out.write(`raw s3cret-password\r\n`);
    expect(lines).toEqual(["token ***", "raw ***"]);
    // A secret that holds a control character is masked as it was given, before printable.
    const { sink: odd, lines: oddLines } = sink(["pass\u0007word-1"]);
    odd.write("x pass\u0007word-1\n");
    expect(oddLines).toEqual(["x ***"]);
  });

  it("emits printable lines: no colours, titles, overwrites or bidi controls", () => {
    const { sink: out, lines } = sink();
    out.write(`${ESC}[32mok${ESC}[0m\r${ESC}]0;title\u0007FAILED \u202ex\u202c\n`);
    out.write("中文 é 🚀\n");
    expect(lines).toEqual(["okFAILED x", "中文 é 🚀"]);
  });
});

describe("the operation's log", () => {
  it("masks secrets, then makes each line printable, for the log and the caller", () => {
    const shown: string[] = [];
    const session = new Session(
      envIn("/nonexistent"),
      { privateKey: throwawayKey(), registryPassword: "s3cret-password" },
      { holder: "test", log: (line) => shown.push(line) },
    );
    session.log(`FAILED: ${ESC}[31ms3cret-password${ESC}[0m\rok \u202eevil\nnext`);
    expect(session.lines).toEqual(["FAILED: ***ok evil\nnext"]);
    expect(shown).toEqual(session.lines);
  });
});

describe("LineSink bounds", () => {
  it("keeps LINE_CAP characters of a long line and counts the rest", () => {
    const { sink: out, lines } = sink();
    out.write(`${"a".repeat(LINE_CAP)}\n`);
    out.write(`${"b".repeat(LINE_CAP + 123)}\nnext\n`);
    expect(lines).toEqual([
      "a".repeat(LINE_CAP),
      `${"b".repeat(LINE_CAP)}${notKeptMarker(123)}`,
      "next",
    ]);
  });

  it("holds at most LINE_CAP characters of a line that never ends (10 MB in chunks)", () => {
    const { sink: out, lines } = sink();
    const chunk = "x".repeat(64 * 1024);
    const chunks = 160; // 10 MiB
    for (let i = 0; i < chunks; i++) out.write(chunk);
    // Nothing is emitted before the line ends, and nothing but a counter grows meanwhile.
    expect(lines).toEqual([]);
    out.flush();
    expect(lines).toEqual([
      `${"x".repeat(LINE_CAP)}${notKeptMarker(chunks * chunk.length - LINE_CAP)}`,
    ]);
    // The sink starts afresh for the next line.
    out.write("after\n");
    expect(lines.at(-1)).toBe("after");
  });

  it("does not keep the start of a secret that the cut splits", () => {
    const secret = "s3cret-password-0123456789";
    const { sink: out, lines } = sink([secret]);
    // The cut at LINE_CAP falls 10 characters into the secret.
    out.write(`${"y".repeat(LINE_CAP - 10)}${secret} and more\n`);
    expect(lines).toHaveLength(1);
    const [line] = lines as [string];
    expect(line).not.toContain(secret.slice(0, 10));
    expect(line).not.toContain(secret.slice(0, 4));
    // Kept: the characters before the last (longest secret - 1) of the LINE_CAP held.
    const kept = LINE_CAP - (secret.length - 1);
    const total = LINE_CAP - 10 + secret.length + " and more".length;
    expect(line).toBe(`${"y".repeat(kept)}${notKeptMarker(total - kept)}`);
  });
});

describe("BoundedLines", () => {
  it("keeps the head and the tail of 5000 lines and counts those between", () => {
    const kept = new BoundedLines();
    const all = Array.from({ length: 5000 }, (_, i) => `line ${i + 1}`);
    const inHead = all.map((line) => kept.add(line));
    expect(inHead.filter(Boolean)).toHaveLength(HEAD_LINES);
    expect(kept.notKept).toBe(5000 - HEAD_LINES - TAIL_LINES);
    expect(kept.lines()).toEqual([
      ...all.slice(0, HEAD_LINES),
      linesNotKeptMarker(5000 - HEAD_LINES - TAIL_LINES),
      ...all.slice(-TAIL_LINES),
    ]);
    expect(kept.tailLines()).toEqual(all.slice(-TAIL_LINES));
    expect(kept.text().split("\n")).toHaveLength(HEAD_LINES + 1 + TAIL_LINES);
  });

  it("keeps every line of a short stream, without a marker", () => {
    const kept = new BoundedLines(3, 2);
    for (const line of ["a", "b", "c", "d", "e"]) kept.add(line);
    expect(kept.lines()).toEqual(["a", "b", "c", "d", "e"]);
    kept.add("f");
    expect(kept.lines()).toEqual(["a", "b", "c", linesNotKeptMarker(1), "e", "f"]);
    expect(linesNotKeptMarker(1)).toBe("[… 1 line not kept …]");
    expect(linesNotKeptMarker(7)).toBe("[… 7 lines not kept …]");
  });
});

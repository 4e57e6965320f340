// Secrets are masked in every line of output, also when split across chunks.
import { describe, expect, it } from "vitest";
import { LineSink, Redactor } from "../../src/deploy/redact.js";

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
});

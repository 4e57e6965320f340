// The operations' plain arguments: publish's output as --release takes it.
import { describe, expect, it } from "vitest";
import { parsePublishOutput } from "../../src/deploy/functions.js";
import { digest } from "./unit-support.js";

describe("function arguments", () => {
  it("reads publish's output in either order and names a missing line", () => {
    const b = digest("a");
    const f = digest("b");
    expect(parsePublishOutput(`FRONTEND_IMAGE=${f}\nBACKEND_IMAGE=${b}\n`)).toEqual({
      backendImage: b,
      frontendImage: f,
    });
    expect(() => parsePublishOutput(`BACKEND_IMAGE=${b}`)).toThrow(
      /--release has no FRONTEND_IMAGE=… line/,
    );
  });

  it("reads publish's output with the newlines turned into spaces (as a workflow input or a paste gives it)", () => {
    const b = digest("a");
    const f = digest("b");
    const expected = { backendImage: b, frontendImage: f };
    expect(parsePublishOutput(`BACKEND_IMAGE=${b} FRONTEND_IMAGE=${f} TAGS=abc,develop`)).toEqual(
      expected,
    );
    expect(parsePublishOutput(`\r\n  BACKEND_IMAGE=${b}\r\n\tFRONTEND_IMAGE=${f}\n\n`)).toEqual(
      expected,
    );
    expect(() => parsePublishOutput(`BACKEND_IMAGE=${b} FRONTEND_IMAGE=${f} rm -rf`)).toThrow(
      /"rm" is not a BACKEND_IMAGE=/,
    );
    expect(() =>
      parsePublishOutput(`BACKEND_IMAGE=${b} BACKEND_IMAGE=${f} FRONTEND_IMAGE=${f}`),
    ).toThrow(/BACKEND_IMAGE twice/);
  });
});

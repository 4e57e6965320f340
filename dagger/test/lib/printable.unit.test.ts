// Text from a server is data: nothing in it may steer the terminal, the CI log, a job summary
// or Slack (colours, cursor moves, titles, links, overwrites, reordering), and ordinary text
// (accents, CJK, emoji) is kept as it is.
import { describe, expect, it } from "vitest";
import { block, cell } from "../../src/lib/markdown.js";
import { printable, printableLine } from "../../src/lib/printable.js";
import { SLACK_TEXT_CAP, slackText } from "../../src/lib/slack.js";

const ESC = "\u001b";

/** Every character that a terminal or a bidi-aware viewer would act on. */
const ACTIVE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe("printable", () => {
  it("removes colour and cursor sequences whole, parameters included", () => {
    expect(printable(`${ESC}[31mred${ESC}[0m and ${ESC}[1;32mgreen${ESC}[m`)).toBe("red and green");
    // Cursor up, erase line, home, hide cursor (private parameters), scroll region.
    expect(printable(`a${ESC}[2A${ESC}[2K${ESC}[H${ESC}[?25l${ESC}[1;24rb`)).toBe("ab");
    // Two-character and charset sequences: reset, save/restore cursor, G0 charset.
    expect(printable(`${ESC}c${ESC}7x${ESC}8${ESC}(By`)).toBe("xy");
  });

  it("removes OSC window titles and hyperlinks, ended by BEL or ST", () => {
    expect(printable(`${ESC}]0;pwned title\u0007done`)).toBe("done");
    expect(printable(`${ESC}]8;;https://evil.example/${ESC}\\click${ESC}]8;;${ESC}\\`)).toBe(
      "click",
    );
    // An unterminated OSC loses its ESC ]: what remains is only text.
    expect(printable(`${ESC}]0;title`)).toBe("0;title");
  });

  it("removes CR and backspaces, so nothing can overwrite what was printed before", () => {
    expect(printable("ok\rFAILED")).toBe("okFAILED");
    expect(printable("FAILED\b\b\b\b\b\bok    ")).toBe("FAILEDok    ");
    expect(printable("line\r\n")).toBe("line\n");
  });

  it("removes bidi controls, so a line reads as it is stored", () => {
    const spoofed = "deploy \u202eredaeh\u202c \u2066x\u2069 \u200f\u200e\u061c";
    expect(printable(spoofed)).toBe("deploy redaeh x ");
    expect(printable(spoofed)).not.toMatch(ACTIVE);
  });

  it("removes NUL, BEL, DEL, C1 controls and the 8-bit CSI with its parameters", () => {
    expect(printable("a\u0000b\u0007c\u007fd\u0085e")).toBe("abcde");
    expect(printable("\u009b31mred\u009b0m")).toBe("red");
    expect(printable("\u009d0;title\u009cx")).toBe("x");
  });

  it("replaces lone surrogates and keeps ordinary unicode", () => {
    expect(printable("half \ud83d and \ude00 end")).toBe("half \ufffd and \ufffd end");
    const ordinary = "café Grüße 中文 🚀 deployed ✅\tcolumn\nnext line";
    expect(printable(ordinary)).toBe(ordinary);
  });

  it("leaves no active character in any mix of them", () => {
    let text = "";
    for (let code = 0; code < 0x100; code++) text += `${String.fromCharCode(code)}x`;
    text += "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069";
    expect(printable(text)).not.toMatch(ACTIVE);
    expect(printableLine(text)).not.toMatch(/[\t\n]/);
  });

  it("printableLine makes one line: line feeds and tabs become a space", () => {
    expect(printableLine("a\n\nb\tc\r\nd")).toBe("a b c d");
  });
});

describe("what reaches a job summary or Slack", () => {
  it("table cells and fenced blocks are printable", () => {
    expect(cell(`${ESC}[31mfailed${ESC}[0m | <b>\r\nnext`)).toBe("failed \\| &lt;b&gt; next");
    expect(block(`ok\rFAILED ${ESC}]0;t\u0007\u202edone\n`)).toEqual([
      "```",
      "okFAILED done",
      "```",
    ]);
  });

  it("Slack gets printable text, lines kept, at most SLACK_TEXT_CAP characters", () => {
    expect(slackText(`${ESC}[1mDeploy${ESC}[0m ✅\nline two\r`)).toBe("Deploy ✅\nline two");
    const long = slackText("🚀".repeat(SLACK_TEXT_CAP));
    expect(long.length).toBeLessThanOrEqual(SLACK_TEXT_CAP);
    expect(long.endsWith("🚀…")).toBe(true);
    expect(slackText("x".repeat(SLACK_TEXT_CAP))).toBe("x".repeat(SLACK_TEXT_CAP));
  });
});

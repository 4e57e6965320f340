// Makes text from outside (a server's output, a record read back from it, an error message)
// inert before it reaches a terminal, a CI log, a report or Slack. Such text is data, never
// instructions to whatever displays it, yet a terminal or a log viewer obeys control characters:
// an escape sequence can recolour, move the cursor, clear the screen, set the window title or
// plant a hyperlink; a carriage return or backspaces can overwrite what was printed before
// ("ok\rFAILED" shows FAILED where ok was, or the other way round, hiding a failure); bidi
// controls can reorder the characters so a line reads differently from what it holds; NUL and
// friends can cut a log short. Ordinary text, accents, CJK and emoji included, is kept as is.

/* eslint-disable no-control-regex -- matching control characters is this file's purpose */

/**
 * Escape sequences, removed whole so no parameter bytes are left behind as garbage:
 * - CSI `ESC [ params intermediates final` (colours, cursor moves, erase), and its 8-bit form
 *   U+009B;
 * - string sequences OSC `ESC ]` (window title, hyperlinks), DCS `ESC P`, SOS `ESC X`,
 *   PM `ESC ^`, APC `ESC _`, and the 8-bit OSC U+009D, up to their terminator (BEL, ST as
 *   `ESC \`, or the 8-bit ST U+009C);
 * - any other `ESC [intermediates] final` (ESC c reset, ESC 7/8, ESC ( B charset...).
 * An unterminated or malformed sequence is not matched here; its ESC (or C1 byte) is removed
 * below with the other controls, which leaves only printable characters.
 */
const ESCAPE_SEQUENCE = new RegExp(
  [
    "(?:\\u001b\\[|\\u009b)[0-?]*[ -/]*[@-~]",
    "(?:\\u001b[\\]PX^_]|\\u009d)[^\\u0007\\u001b\\u009c]*(?:\\u0007|\\u001b\\\\|\\u009c)",
    "\\u001b[ -/]*[0-~]",
  ].join("|"),
  "g",
);

/**
 * Every control character left after the sequences: C0 except TAB and LF (so CR, BS, BEL, NUL
 * and a stray ESC go), DEL, C1 (U+0080-U+009F), and the bidi controls (LRM, RLM, ALM, the
 * embeddings and overrides U+202A-U+202E, the isolates U+2066-U+2069).
 */
const CONTROL =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * A UTF-16 surrogate without its other half (a chunk cut inside an emoji, a corrupt record):
 * it cannot be encoded as UTF-8 and some consumers reject the whole text for it.
 */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Multi-line text with nothing a terminal, a log viewer or Slack would obey; keeps TAB and LF. */
export function printable(text: string): string {
  return text.replace(ESCAPE_SEQUENCE, "").replace(CONTROL, "").replace(LONE_SURROGATE, "\ufffd");
}

/** As `printable`, on one line: each run of line feeds and tabs becomes one space. */
export function printableLine(text: string): string {
  return printable(text).replace(/[\t\n]+/g, " ");
}

// Every line the deploy prints passes through a Redactor, so secret bytes (registry
// password, Slack webhook, key material) cannot reach CI logs even if a server echoes them.
// A server's output is also data of unknown size and content: LineSink keeps a bounded part
// of each line and makes it printable (no escape sequences or other controls).
import { printable } from "../lib/printable.js";

const MASK = "***";

export class Redactor {
  private readonly secrets: string[] = [];

  constructor(secrets: Iterable<string | undefined> = []) {
    for (const secret of secrets) this.add(secret);
  }

  /** Registers a secret; also its trimmed form, since shells and files strip newlines. */
  add(secret: string | undefined): void {
    if (!secret) return;
    for (const form of new Set([secret, secret.trim()])) {
      // Very short strings would mask ordinary words; they are not plausible secrets.
      if (form.length >= 4 && !this.secrets.includes(form)) this.secrets.push(form);
    }
    // Longest first, so a secret containing another is masked whole.
    this.secrets.sort((a, b) => b.length - a.length);
  }

  /** The length of the longest secret (0 without any): a cut text may end with a part of it. */
  get longestSecret(): number {
    return this.secrets[0]?.length ?? 0;
  }

  redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.split(secret).join(MASK);
    return result;
  }
}

/** The most characters of one line LineSink keeps (and holds while the line is incomplete). */
export const LINE_CAP = 4000;

/** What ends a line cut at LINE_CAP: how much of it was not kept. */
export function notKeptMarker(characters: number): string {
  return ` … [${characters} more character${characters === 1 ? "" : "s"} not kept]`;
}

/**
 * Turns a stream of chunks into whole lines before redacting them, so a secret split
 * across two chunks is still found. Each line is emitted redacted and printable, and at most
 * LINE_CAP characters of it are kept: a server printing a gigabyte without a newline costs
 * a counter, not memory.
 */
export class LineSink {
  /** The current line's first characters (at most LINE_CAP). */
  private pending = "";
  /** How many characters of the current line came after those (counted, not stored). */
  private overflow = 0;

  constructor(
    private readonly redactor: Redactor,
    private readonly emit: (line: string) => void,
  ) {}

  write(chunk: string): void {
    let start = 0;
    for (;;) {
      const newline = chunk.indexOf("\n", start);
      this.hold(chunk, start, newline === -1 ? chunk.length : newline);
      if (newline === -1) return;
      this.emitPending();
      start = newline + 1;
    }
  }

  flush(): void {
    if (this.pending !== "" || this.overflow > 0) this.emitPending();
  }

  /** Adds chunk[start, end) to the current line, keeping at most LINE_CAP characters. */
  private hold(chunk: string, start: number, end: number): void {
    const kept = Math.max(0, Math.min(LINE_CAP - this.pending.length, end - start));
    if (kept > 0) this.pending += chunk.slice(start, start + kept);
    this.overflow += end - start - kept;
  }

  private emitPending(): void {
    const { redactor } = this;
    // Redacted before (a secret as the server printed it) and after printable (a secret that
    // escape sequences or other controls split, which printable joins again). Neither makes a
    // text longer (a secret of 4+ characters becomes ***; printable removes or replaces one
    // for one), so the line is at most the LINE_CAP characters held.
    let line = redactor.redact(printable(redactor.redact(this.pending)));
    let notKept = this.overflow;
    if (this.overflow > 0) {
      // The cut may have split a secret: its first characters can only be among the last
      // (longest secret - 1) characters kept, so those are not kept either.
      const unsure = Math.min(line.length, Math.max(0, redactor.longestSecret - 1));
      line = line.slice(0, line.length - unsure);
      notKept += unsure;
    }
    this.pending = "";
    this.overflow = 0;
    this.emit(notKept > 0 ? `${line}${notKeptMarker(notKept)}` : line);
  }
}

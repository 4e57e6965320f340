// Every line the deploy prints passes through a Redactor, so secret bytes (registry
// password, Slack webhook, key material) cannot reach CI logs even if a server echoes them.

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

  redact(text: string): string {
    let result = text;
    for (const secret of this.secrets) result = result.split(secret).join(MASK);
    return result;
  }
}

/**
 * Turns a stream of chunks into whole lines before redacting them, so a secret split
 * across two chunks is still found.
 */
export class LineSink {
  private pending = "";

  constructor(
    private readonly redactor: Redactor,
    private readonly emit: (line: string) => void,
  ) {}

  write(chunk: string): void {
    this.pending += chunk;
    const lines = this.pending.split("\n");
    this.pending = lines.pop() ?? "";
    for (const line of lines) this.emit(this.redactor.redact(line));
  }

  flush(): void {
    if (this.pending !== "") this.emit(this.redactor.redact(this.pending));
    this.pending = "";
  }
}

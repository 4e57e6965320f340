// Small helpers for the job summaries (GitHub-flavoured Markdown). Values can come from a server
// or a log, so they are made inert: no control characters, no table breaks, no code-span breaks.

/** One line of plain text, safe in a table cell. */
export function cell(value: string | number | undefined | null, max = 300): string {
  const text = String(value ?? "")
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f\u007f-\u009f]+/g, " ")
    .replace(/[|<>]/g, (c) => ({ "|": "\\|", "<": "&lt;", ">": "&gt;" })[c]!)
    .trim();
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** An inline code span that no value can end early. */
export function code(value: string | undefined | null): string {
  const text = cell(value).replace(/`/g, "'");
  return text === "" ? "" : `\`${text}\``;
}

export function table(header: string[], rows: string[][]): string[] {
  return [
    `| ${header.join(" | ")} |`,
    `| ${header.map(() => "---").join(" | ")} |`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ];
}

/** A fenced block for multi-line output; a fence inside the text cannot close it. */
export function block(text: string): string[] {
  // Terminal colours and other control characters would show as garbage in a summary.
  /* eslint-disable no-control-regex */
  const clean = text
    .replace(/\u001b\[[0-9;]*[A-Za-z]/g, "")
    .replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, "");
  /* eslint-enable no-control-regex */
  const longest = Math.max(2, ...[...clean.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return [fence, clean.trimEnd(), fence];
}

// Small helpers for the job summaries (GitHub-flavoured Markdown). Values can come from a server
// or a log, so they are made inert: no control characters, no table breaks, no code-span breaks.
import { printable, printableLine } from "./printable.js";

/** One line of plain text, safe in a table cell. */
export function cell(value: string | number | undefined | null, max = 300): string {
  const text = printableLine(String(value ?? ""))
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
  const clean = printable(text);
  const longest = Math.max(2, ...[...clean.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = "`".repeat(longest + 1);
  return [fence, clean.trimEnd(), fence];
}

// Readable results for test and lint runs: a short summary on success, the failing output on
// failure (the engine's own error shows only the command and exit code).

const ANSI = new RegExp(String.raw`\u001b\[[0-9;]*[A-Za-z]`, "g");
const SUMMARY_LINE = /^\s*(Test Files|Tests|Duration)\s/;
const TAIL_LINES = 80;

function plain(text: string): string[] {
  return text.replace(ANSI, "").split("\n");
}

/** A duration as people read it in a report: "12.3 s". */
export function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}

/**
 * `label: ok (duration)` and vitest's summary lines or, for tools without one, the last lines
 * of output. The job summary reads these lines back (see summary.ts).
 */
export function summarize(label: string, stdout: string, durationMs?: number): string {
  const lines = plain(stdout);
  const summary = lines.filter((line) => SUMMARY_LINE.test(line)).map((line) => line.trim());
  const body =
    summary.length > 0
      ? summary
      : lines
          .map((line) => line.trimEnd())
          .filter((line) => line !== "")
          .slice(-3);
  const took = durationMs === undefined ? "" : ` (${seconds(durationMs)})`;
  return [`${label}: ok${took}`, ...body.map((line) => `  ${line}`)].join("\n");
}

/** The error `test` and `lint` fail with: which command failed and the tail of its output. */
export function failure(
  label: string,
  command: string[],
  exitCode: number,
  stdout: string,
  stderr: string,
): Error {
  const tail = (text: string) => plain(text).slice(-TAIL_LINES).join("\n").trim();
  const ran = command.length > 0 ? `: \`${command.join(" ")}\`` : "";
  const parts = [`${label} failed${ran} exited with code ${exitCode}.`];
  if (tail(stdout) !== "") parts.push(`--- stdout (last ${TAIL_LINES} lines) ---\n${tail(stdout)}`);
  if (tail(stderr) !== "") parts.push(`--- stderr (last ${TAIL_LINES} lines) ---\n${tail(stderr)}`);
  return new Error(parts.join("\n"));
}

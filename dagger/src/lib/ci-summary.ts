// The CI job's summary (GitHub's $GITHUB_STEP_SUMMARY): what `ci` and `publish` returned, read
// back from their text, as Markdown. Outcomes are the steps' own (success, failure, cancelled,
// skipped): a failed step returns no text, so its row points at the step's log.
import { parsePublishOutput } from "../deploy/functions.js";
import { block, cell, code, table } from "./markdown.js";

export interface CiSummaryInput {
  /** What `dagger call ci` printed (empty when it failed). */
  ci: string;
  ciOutcome: string;
  /** What `dagger call publish` printed (empty when it did not run or failed). */
  publish: string;
  publishOutcome: string;
  runUrl: string;
}

interface CheckRow {
  name: string;
  result: string;
  duration: string;
  tests: string;
}

const ICON: Record<string, string> = {
  success: "✅",
  failure: "❌",
  cancelled: "⏹️",
  skipped: "⏭️",
};

/** Reads the `label: ok (12.3 s)` blocks that ci returns, with vitest's counts where present. */
export function parseCiReport(report: string): CheckRow[] {
  const rows: CheckRow[] = [];
  for (const line of report.split("\n")) {
    const head = /^(\S[^:]*): (\w+)(?: \(([\d.]+ s)\))?$/.exec(line);
    if (head) {
      rows.push({ name: head[1]!, result: head[2]!, duration: head[3] ?? "", tests: "" });
      continue;
    }
    const last = rows[rows.length - 1];
    const tests = /^\s+Tests\s+(.*)$/.exec(line);
    const files = /^\s+Test Files\s+(\d+) passed/.exec(line);
    if (last && tests) last.tests = tests[1]!.trim() + last.tests;
    if (last && files) last.tests += ` in ${files[1]} files`;
  }
  return rows;
}

function outcomeLine(what: string, outcome: string, runUrl: string): string {
  const icon = ICON[outcome] ?? "❔";
  return `${icon} **${what}: ${cell(outcome || "unknown")}**${outcome === "failure" ? ` · the step's log has the failing command and the last lines of its output: ${runUrl}` : ""}`;
}

export function renderCiSummary(input: CiSummaryInput): string {
  const lines = ["## CI", "", outcomeLine("dagger call ci", input.ciOutcome, input.runUrl), ""];
  const rows = parseCiReport(input.ci);
  if (rows.length > 0) {
    lines.push(
      ...table(
        ["Check", "Result", "Duration", "Tests"],
        rows.map((r) => [cell(r.name), cell(r.result), cell(r.duration), cell(r.tests)]),
      ),
      "",
    );
  }
  if (input.publishOutcome === "skipped" || input.publishOutcome === "") {
    lines.push("Images are published on pushes to develop and main only.");
    return lines.join("\n") + "\n";
  }
  lines.push(
    "## Published images",
    "",
    outcomeLine("dagger call publish", input.publishOutcome, input.runUrl),
    "",
  );
  if (input.publish.trim() !== "") {
    let images: ReturnType<typeof parsePublishOutput>;
    try {
      images = parsePublishOutput(input.publish);
    } catch {
      lines.push(
        "publish printed something other than its release lines:",
        "",
        ...block(input.publish),
      );
      return lines.join("\n") + "\n";
    }
    const { backendImage, frontendImage } = images;
    const tags = /(?:^|\s)TAGS=(\S+)/.exec(input.publish)?.[1]?.split(",") ?? [];
    lines.push(
      ...table(
        ["Image", "Digest reference"],
        [
          ["backend", code(backendImage)],
          ["frontend", code(frontendImage)],
        ],
      ),
      "",
    );
    if (tags.length > 0) lines.push(`Tags: ${tags.map(code).join(", ")}`, "");
    lines.push(
      "These are the images `ci` tested. To deploy them: **Actions → deploy → Run workflow**, choose the environment and paste this release:",
      "",
      ...block(`BACKEND_IMAGE=${backendImage} FRONTEND_IMAGE=${frontendImage}`),
    );
  }
  return lines.join("\n") + "\n";
}

// The deploy and rollback job summary: what the server recorded for this run (steps with their
// durations, release, backup, whether an automatic rollback ran and why) and what serves now.
// Read from the server, not from the step's output, so it is there when the deploy failed too.
import type { HistoryEntry } from "./commands/index.js";
import { block, cell, code, table } from "../lib/markdown.js";

export interface OperationSummaryInput {
  env: string;
  runUrl: string;
  /** The step's outcome as GitHub reports it (success, failure, cancelled); may be empty. */
  outcome: string;
  /** History entries of this run (normally one), oldest first. */
  entries: HistoryEntry[];
  /** The `status` text: release, containers, health, lock. */
  status: string;
}

const RESULT: Record<HistoryEntry["result"], string> = {
  success: "✅ succeeded",
  "rolled-back": "⚠️ failed, rolled back automatically",
  failed: "❌ failed",
};

/** History entries recorded by the run with this URL (all of them when no URL is given). */
export function entriesOfRun(historyJsonl: string, runUrl: string): HistoryEntry[] {
  const entries: HistoryEntry[] = [];
  for (const line of historyJsonl.split("\n")) {
    if (line.trim() === "") continue;
    try {
      const entry = JSON.parse(line) as HistoryEntry;
      if (runUrl === "" || entry.runUrl === runUrl) entries.push(entry);
    } catch {
      // A damaged line belongs to no run we can name.
    }
  }
  return runUrl === "" ? entries.slice(-1) : entries;
}

function entrySection(entry: HistoryEntry): string[] {
  const version = entry.version ? ` (version ${code(entry.version)})` : "";
  const facts: string[][] = [
    ["Release", `${code(entry.release) || "none"}${version}`],
    ["Serving after it", code(entry.serving) || "nothing"],
    ["Backup", code(entry.backup) || "none"],
    ...(entry.proof ? [["Restore proof", cell(entry.proof)]] : []),
    ...(entry.rehearsal ? [["Migration rehearsal", cell(entry.rehearsal)]] : []),
    ["Who", `${cell(entry.holder)} at ${cell(entry.time)}`],
  ];
  if (entry.backendImage)
    facts.push(["Images", `${code(entry.backendImage)}<br>${code(entry.frontendImage)}`]);
  if (entry.result === "rolled-back") {
    facts.push([
      "Automatic rollback",
      `yes: step ${code(entry.failedStep)} failed: ${cell(entry.message, 600)}`,
    ]);
  } else if (entry.result === "failed") {
    facts.push(["Why", `step ${code(entry.failedStep)}: ${cell(entry.message, 600)}`]);
  } else if (entry.message) {
    facts.push(["Note", cell(entry.message)]);
  }
  const lines = [
    `### ${entry.action === "rollback" ? "Rollback" : "Deploy"} ${RESULT[entry.result] ?? cell(entry.result)}`,
    "",
    ...table(["", ""], facts),
    "",
  ];
  if (entry.steps && entry.steps.length > 0) {
    const total = entry.steps.reduce((sum, s) => sum + s.seconds, 0);
    lines.push(
      ...table(
        ["Step", "Duration", "Result"],
        entry.steps.map((s) => [
          code(s.step),
          `${s.seconds.toFixed(1)} s`,
          s.ok ? "ok" : "**failed**",
        ]),
      ),
    );
    lines.push(`| **total** | ${total.toFixed(1)} s | |`, "");
  }
  return lines;
}

export function renderOperationSummary(input: OperationSummaryInput): string {
  const lines = [`## ${cell(input.env)}: deploys and rollbacks of this run`, ""];
  if (input.entries.length === 0) {
    lines.push(
      `No deploy or rollback of this run is recorded on ${cell(input.env)} (step outcome: ${cell(input.outcome || "unknown")}).`,
      "It stopped before changing anything (bad input, a host key or connection problem: the step's log says which),",
      "or its connection was lost mid-way: then the lock below names it; see README.md, Recovery.",
      "",
    );
  }
  for (const entry of input.entries) lines.push(...entrySection(entry));
  lines.push("### Now on the server", "", ...block(input.status), "");
  return lines.join("\n");
}

// Plain-text rendering of an operation's report: what the Dagger functions return.
import type { OperationReport } from "./operation.js";

export function formatReport(report: OperationReport): string {
  const lines = [report.summary, ""];
  if (report.plan) {
    lines.push(report.plan);
  } else if (report.steps.length > 0) {
    lines.push("steps:");
    for (const step of report.steps) {
      const state = step.ok ? "ok" : step.exitCode === null ? "lost" : `exit ${step.exitCode}`;
      lines.push(
        `  ${step.step.padEnd(16)} ${(step.durationMs / 1000).toFixed(1).padStart(7)} s  ${state}`,
      );
    }
    lines.push(
      `total ${(report.durationMs / 1000).toFixed(1)} s, ${report.roundTrips} SSH round trips`,
    );
  }
  return lines.join("\n") + "\n";
}

// Rollback's choice of the release to go back to, from the history, and its runbook as
// --dry-run prints it, without connecting anywhere.
import { describe, expect, it } from "vitest";
import { resolveEnvironment } from "../../src/deploy/environments.js";
import { previousServing, rollback } from "../../src/deploy/rollback.js";
import { someKnownHosts, stagingJson, throwawayKey } from "./unit-support.js";

describe("history", () => {
  it("finds the release that served before the current one", () => {
    const lines = [
      { result: "success", serving: "r20260101_000000_aaaaaa" },
      { result: "success", serving: "r20260102_000000_bbbbbb" },
      { result: "rolled-back", serving: "r20260102_000000_bbbbbb" },
      { result: "success", serving: "r20260103_000000_cccccc" },
    ].map((e) => JSON.stringify(e));
    expect(previousServing(lines.join("\n"), "r20260103_000000_cccccc")).toBe(
      "r20260102_000000_bbbbbb",
    );
    expect(previousServing(lines.slice(0, 1).join("\n"), "r20260101_000000_aaaaaa")).toBeNull();
    expect(previousServing("garbage\n" + lines[0], "none")).toBe("r20260101_000000_aaaaaa");
  });
});

describe("rollback --dry-run", () => {
  // Port 1 on a documentation address: a connection attempt would fail the test.
  const offline = resolveEnvironment("staging", stagingJson, {
    host: "192.0.2.1",
    sshPort: 1,
    knownHosts: someKnownHosts,
  });
  const plan = async (request: { backup?: string; toPrevious?: boolean }) => {
    const report = await rollback(
      { env: offline, ...request, dryRun: true },
      { privateKey: throwawayKey() },
      { holder: "unit" },
    );
    expect(report.roundTrips).toBe(0);
    return (report.plan ?? "").split("\n").filter((line) => line.startsWith("### "));
  };
  const names = (lines: string[]) => lines.map((line) => /^### ([a-z-]+)/.exec(line)![1]);

  it("--to previous is code only: no backup on its way; lock, the history, switch, start beside, route, health, retire, record, unlock", async () => {
    const lines = await plan({ toPrevious: true });
    expect(names(lines.filter((line) => !line.includes("(on failure")))).toEqual([
      "lock",
      "preflight",
      "history",
      "switch",
      "start",
      "route",
      "health",
      "retire",
      "record",
      "unlock",
    ]);
    expect(lines.join("\n")).toContain("### restore-release (on failure after the switch)");
    expect(lines.join("\n")).toContain(
      "### route-back (on failure after the new containers started)",
    );
    // The database is never touched, so its recovery never restores one.
    expect(lines.join("\n")).not.toMatch(/restore-db|stop-app/);
  });

  it("--backup: verified before anything changes; the restore is undone from the safety backup", async () => {
    const lines = await plan({ backup: "backup_staging_20260101_120000.tar.gz" });
    expect(names(lines.filter((line) => !line.includes("(on failure")))).toEqual([
      "lock",
      "preflight",
      "verify-backup",
      "backup",
      "restore-proof",
      "retention",
      "stop-app",
      "restore-db",
      "restore-files",
      "start",
      "route",
      "health",
      "retire",
      "stop-app",
      "record",
      "unlock",
    ]);
    const text = lines.join("\n");
    expect(text).toContain("### start (when the backup holds a release)");
    expect(text).toContain("### stop-app (when the backup is from before the first deploy)");
    expect(text).toContain("### restore-files (on failure after the restore started)");
  });
});

// A deploying process for the interrupted-operation tests: runs one deploy or rollback on the
// box and prints every log line, so that the test can SIGKILL it inside a chosen step.
// Usage: tsx interrupt-child.ts <box.json> <request.json>
import { readFileSync } from "node:fs";
import type { VpsBox } from "../vps/box.js";
import { deploy, rollback } from "../../src/deploy/index.js";
import { boxCredentials, boxEnvironment } from "./support.js";

interface Request {
  operation: "deploy" | "rollback";
  release?: "v1" | "v2";
  backup?: string;
  toPrevious?: boolean;
  /** Overrides the environment's migration command. */
  migrateCommand?: string[];
  /** false: no rehearsal (the migrate step runs when a migration is pending). */
  rehearseMigrations?: boolean;
  /**
   * A migrations dir the images do not hold: the pending migrations cannot be counted, so they
   * count as pending and the rehearsal and migrate run (the box's releases ship the same ones).
   */
  migrationsDir?: string;
}

const [boxJson, requestJson] = process.argv.slice(2);
const box = JSON.parse(readFileSync(boxJson!, "utf8")) as VpsBox;
const request = JSON.parse(requestJson!) as Request;
const { env, releaseFiles } = await boxEnvironment(box, "staging", {
  ...(request.migrateCommand ? { migrateCommand: request.migrateCommand } : {}),
  ...(request.migrationsDir ? { migrationsDir: request.migrationsDir } : {}),
  ...(request.rehearseMigrations === undefined
    ? {}
    : { rehearseMigrations: request.rehearseMigrations }),
});
const credentials = boxCredentials(box);
const caller = {
  holder: "vitest:interrupted",
  runUrl: "https://ci.example.invalid/runs/interrupted",
  log: (line: string) => process.stdout.write(`${line}\n`),
};
const run =
  request.operation === "deploy"
    ? deploy(
        {
          env,
          releaseFiles,
          backendImage: box.images[request.release ?? "v1"].backend,
          frontendImage: box.images[request.release ?? "v1"].frontend,
        },
        credentials,
        caller,
      )
    : rollback(
        { env, backup: request.backup, toPrevious: request.toPrevious },
        credentials,
        caller,
      );
run.then(
  (report) => process.stdout.write(`DONE ${report.summary}\n`),
  (error: Error) => {
    process.stdout.write(`FAILED ${error.message}\n`);
    process.exitCode = 1;
  },
);

// Recorded chains of test, test-backend, test-frontend and lint, called through the SDK
// entrypoint against the stand-in engine. These prove API use and pipeline shape (what the engine
// would be asked to run, in which order, with which inputs); they do not run the tests.
import { beforeAll, describe, expect, it } from "vitest";

import { isRef, StandInExecError, type CallResult, type Step } from "../standin/engine.js";
import {
  evaluated,
  evaluationRunning,
  execs,
  indexOf,
  plainValues,
  refArg,
  stepsNamed,
} from "../standin/chains.js";
import { everyQueryValid, expectSuccess, useStandIn } from "./fixture.js";

const fixture = useStandIn();

const MIGRATE = ["npx", "--no-install", "prisma", "migrate", "deploy"];
const DRIFT = [
  "npx",
  "--no-install",
  "prisma",
  "migrate",
  "diff",
  "--from-config-datasource",
  "--to-schema",
  "prisma/schema.prisma",
  "--exit-code",
];
const BACKEND_TESTS = ["npm", "test", "-w", "backend"];
const FRONTEND_TESTS = ["npm", "test", "-w", "frontend"];
const VITEST_OUTPUT =
  " ✓ tests/shipments.test.ts (12 tests) 310ms\n\n Test Files  4 passed (4)\n      Tests  37 passed (37)\n   Duration  2.10s\n";

const isExec = (command: string[]) => (step: Step) =>
  step.field === "withExec" && JSON.stringify(step.args.args) === JSON.stringify(command);

/** The secrets' plaintexts as the module created them (setSecret), by secret name. The recorded
 * chain holds only the name: the engine keeps the value (`plaintextOf`), as Dagger does. */
function createdSecrets(chain: Step[]): Map<string, string> {
  const secrets = new Map<string, string>();
  const visit = (steps: Step[]) => {
    for (const step of steps) {
      for (const value of Object.values(step.args)) {
        if (!isRef(value)) continue;
        const created = value.chain.find((s) => s.field === "setSecret");
        const plaintext = fixture.engine.plaintextOf(value.ref);
        if (value.type === "Secret" && created && plaintext !== undefined)
          secrets.set(String(created.args.name), plaintext);
        visit(value.chain);
      }
    }
  };
  visit(chain);
  return secrets;
}

describe("test-backend: MySQL service, migrations and drift check, then the backend tests", () => {
  // One recorded run serves the shape assertions; failure scenarios make their own calls.
  let result: CallResult;
  let chain: Step[];
  beforeAll(async () => {
    fixture.engine.respond((e) => (e.leaf.field === "stdout" ? VITEST_OUTPUT : undefined));
    result = await fixture.call("testBackend");
    fixture.engine.clearResponders();
    expectSuccess(result);
    chain = evaluationRunning(result, "stdout", BACKEND_TESTS).chain;
  });

  it("binds MySQL as a service with a mysqladmin-ping health check before migrating, drift-checking and testing, in that order", () => {
    const binding = indexOf(chain, (s) => s.field === "withServiceBinding");
    const migrate = indexOf(chain, isExec(MIGRATE));
    const drift = indexOf(chain, isExec(DRIFT));
    const tests = indexOf(chain, isExec(BACKEND_TESTS));
    expect(binding).toBeGreaterThan(-1);
    expect([binding < migrate, migrate < drift, drift < tests]).toEqual([true, true, true]);
    expect(chain[binding]!.args.alias).toBe("mysql");

    const mysql = refArg(chain[binding], "service");
    expect(mysql.type).toBe("Service");
    expect(stepsNamed(mysql.chain, "from")[0]!.args.address).toBe("mysql:8.4");
    expect(stepsNamed(mysql.chain, "withExposedPort")[0]!.args.port).toBe(3306);
    const healthcheck = stepsNamed(mysql.chain, "withDockerHealthcheck")[0];
    expect(healthcheck?.args.args).toEqual(expect.arrayContaining(["mysqladmin", "ping"]));
    const asService = indexOf(mysql.chain, (s) => s.field === "asService");
    expect(indexOf(mysql.chain, (s) => s.field === "withDockerHealthcheck")).toBeLessThan(
      asService,
    );
    expect(mysql.chain[asService]!.args.useEntrypoint).toBe(true);
    expect(stepsNamed(mysql.chain, "withEnvVariable").map((s) => s.args.name)).toEqual([
      "MYSQL_DATABASE",
    ]);
  });

  it("passes the MySQL root password and DATABASE_URL only as Secrets: never in an env value or exec argument", () => {
    const databaseUrl = stepsNamed(chain, "withSecretVariable").find(
      (s) => s.args.name === "DATABASE_URL",
    );
    expect(refArg(databaseUrl, "secret").type).toBe("Secret");
    expect(indexOf(chain, (s) => s === databaseUrl)).toBeLessThan(indexOf(chain, isExec(MIGRATE)));
    const mysql = refArg(stepsNamed(chain, "withServiceBinding")[0], "service");
    const rootPassword = stepsNamed(mysql.chain, "withSecretVariable").find(
      (s) => s.args.name === "MYSQL_ROOT_PASSWORD",
    );
    expect(refArg(rootPassword, "secret").type).toBe("Secret");

    const secrets = createdSecrets(chain);
    const password =
      [...secrets.entries()].find(([name]) => name.includes("root-password"))?.[1] ?? "";
    const url = [...secrets.entries()].find(([name]) => name.includes("database-url"))?.[1] ?? "";
    expect(password).toMatch(/^[0-9a-f]{48}$/);
    expect(url).toBe(`mysql://root:${password}@mysql:3306/qgo_test`);
    for (const value of plainValues(chain)) expect(value).not.toContain(password);
  });

  it("uses a fresh random database password on every run", async () => {
    const again = await fixture.call("testBackend");
    const againChain = evaluationRunning(again, "stdout", BACKEND_TESTS).chain;
    const first = [...createdSecrets(chain).values()];
    const second = [...createdSecrets(againChain).values()];
    expect(first).toHaveLength(2);
    for (const value of second) expect(first).not.toContain(value);
  });

  it("copies the lockfiles and runs npm ci with the npm cache volume before copying the sources", () => {
    expect(stepsNamed(chain, "from")[0]!.args.address).toBe("node:22-bookworm-slim");
    const cache = indexOf(chain, (s) => s.field === "withMountedCache");
    expect(chain[cache]!.args.path).toBe("/root/.npm");
    expect(refArg(chain[cache], "cache").chain.at(-1)).toMatchObject({
      field: "cacheVolume",
      args: { key: "qgo-npm" },
    });
    const copies = stepsNamed(chain, "withDirectory");
    expect(copies[0]!.args.include).toEqual([
      "package.json",
      "package-lock.json",
      "backend/package.json",
      "frontend/package.json",
    ]);
    expect(copies[1]!.args.include).toBeUndefined();
    for (const copy of copies) expect(refArg(copy, "source").ref).toBe(fixture.source);
    const install = indexOf(chain, isExec(["npm", "ci", "--no-audit", "--no-fund"]));
    expect([cache < install, indexOf(chain, (s) => s === copies[0]) < install]).toEqual([
      true,
      true,
    ]);
    expect(install).toBeLessThan(indexOf(chain, (s) => s === copies[1]));
    // The suite's harness test starts a throwaway MariaDB: mariadb-server from apt, as on CI.
    expect(execs(chain).slice(1, 4)).toEqual([
      ["apt-get", "update", "-qq"],
      ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "mariadb-server"],
      ["npm", "run", "prisma:generate", "-w", "backend"],
    ]);
  });

  it("returns vitest's summary lines", () => {
    expect(result.returnValue).toMatch(
      /^backend tests: ok \(\d+\.\d s\)\n {2}Test Files {2}4 passed \(4\)\n {2}Tests {2}37 passed \(37\)\n {2}Duration {2}2\.10s$/,
    );
  });

  it("fails with the failing command and the failing tests' output when a test fails", async () => {
    fixture.engine.respond((e) => {
      if (
        e.leaf.field === "stdout" &&
        execs(e.chain).some((a) => JSON.stringify(a) === JSON.stringify(BACKEND_TESTS))
      ) {
        throw new StandInExecError(
          1,
          " FAIL tests/shipments.test.ts > rejects a duplicate tracking number\n",
          "AssertionError: expected 201 to be 409",
          BACKEND_TESTS,
        );
      }
      return undefined;
    });
    const result = await fixture.call("testBackend");
    expect(result.exitCode).toBe(1);
    expect(result.error).toContain(
      "backend tests failed: `npm test -w backend` exited with code 1",
    );
    expect(result.error).toContain(
      "FAIL tests/shipments.test.ts > rejects a duplicate tracking number",
    );
    expect(result.error).toContain("expected 201 to be 409");
  });

  it("fails naming the drift check when schema.prisma and the migrations disagree", async () => {
    fixture.engine.respond((e) => {
      if (
        e.leaf.field === "stdout" &&
        execs(e.chain).some((a) => JSON.stringify(a) === JSON.stringify(DRIFT))
      ) {
        throw new StandInExecError(2, "[+] Added column `Shipment`.`priority`", "", DRIFT);
      }
      return undefined;
    });
    const result = await fixture.call("testBackend");
    expect(result.error).toContain(
      "prisma migrate diff --from-config-datasource --to-schema prisma/schema.prisma --exit-code` exited with code 2",
    );
    expect(result.error).toContain("Added column");
  });

  it("follows the constructor options: MySQL image and backend workspace path", async () => {
    const result = await fixture.call(
      "testBackend",
      {},
      { mysqlImage: "mysql:8.0", backendPath: "services/api" },
    );
    expectSuccess(result);
    const chain = evaluationRunning(result, "stdout", ["npm", "test", "-w", "services/api"]).chain;
    const mysql = refArg(stepsNamed(chain, "withServiceBinding")[0], "service");
    expect(stepsNamed(mysql.chain, "from")[0]!.args.address).toBe("mysql:8.0");
    expect(stepsNamed(chain, "withWorkdir").map((s) => s.args.path)).toContain("/src/services/api");
    expect(stepsNamed(chain, "withDirectory")[0]!.args.include).toContain(
      "services/api/package.json",
    );
  });
});

describe("test-frontend and test", () => {
  it("test-frontend runs npm test in the frontend workspace, with no database and no secret", async () => {
    const result = await fixture.call("testFrontend");
    expectSuccess(result);
    const chain = evaluationRunning(result, "stdout", FRONTEND_TESTS).chain;
    expect(stepsNamed(chain, "withServiceBinding")).toEqual([]);
    expect(stepsNamed(chain, "withSecretVariable")).toEqual([]);
    expect(result.returnValue).toMatch(/^frontend tests: ok/);
  });

  it("test requests the backend and frontend runs in parallel and returns both summaries", async () => {
    fixture.engine.setLatency(100);
    fixture.engine.respond((e) => (e.leaf.field === "stdout" ? VITEST_OUTPUT : undefined));
    const result = await fixture.call("test");
    expectSuccess(result);
    expect(evaluated(result, "stdout").map((e) => execs(e.chain).at(-1))).toEqual(
      expect.arrayContaining([BACKEND_TESTS, FRONTEND_TESTS]),
    );
    expect(result.maxInFlight).toBeGreaterThanOrEqual(2);
    expect(result.returnValue).toMatch(
      /^backend tests: ok \([\d.]+ s\)\n(.|\n)*\nfrontend tests: ok \([\d.]+ s\)\n/,
    );
  });
});

describe("lint", () => {
  it("installs the workspaces and the module's own dependencies, generates the Prisma client, then runs lint and typecheck", async () => {
    const result = await fixture.call("lint");
    expectSuccess(result);
    const lint = evaluationRunning(result, "stdout", ["npm", "run", "lint"]).chain;
    const typecheck = evaluationRunning(result, "stdout", ["npm", "run", "typecheck"]).chain;
    expect(execs(lint).slice(0, -1)).toEqual(execs(typecheck).slice(0, -1));
    expect(execs(lint)).toEqual([
      ["npm", "ci", "--no-audit", "--no-fund"],
      ["npm", "ci", "--no-audit", "--no-fund", "--prefix", "dagger"],
      ["npm", "run", "prisma:generate", "-w", "backend"],
      ["npm", "run", "lint"],
    ]);
    const copies = stepsNamed(lint, "withDirectory");
    expect(copies.map((c) => c.args.include ?? "everything")).toEqual([
      ["package.json", "package-lock.json", "backend/package.json", "frontend/package.json"],
      ["dagger/package.json", "dagger/package-lock.json"],
      "everything",
    ]);
    // Include patterns keep paths relative to the copied directory (Dagger's layercopy): every
    // copy targets /src, so the module's manifests land in /src/dagger/, not /src/dagger/dagger/.
    expect(copies.map((c) => c.args.path)).toEqual(["/src", "/src", "/src"]);
    expect(result.returnValue).toMatch(/^lint: ok(.|\n)*\ntypecheck: ok/);
  });
});

everyQueryValid(fixture);

// Saved defaults (Dagger's local defaults, a `.env` next to dagger.json): the committed
// .env.example names only arguments the module really has, gives Secrets as URIs, fills every
// required argument of the deploy short forms but --env, and can never reach a container (the
// source ignores every .env; .gitignore keeps it out of the repository). The emulation of the
// engine's lookup rules (../standin/local-defaults.ts) is checked on the cases the docs name.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";

import { REPO_ROOT } from "../standin/engine.js";
import { scanModule, typeText, type ScannedModule } from "../standin/introspect.js";
import { defaultsFor, parseDotEnv } from "../standin/local-defaults.js";
import { PatternMatcher } from "../executor/patterns.js";

const example = readFileSync(join(REPO_ROOT, ".env.example"), "utf8");
/** Every assignment of the example, the commented-out ones too (a person uncomments them). */
const assignments = [...example.matchAll(/^#?\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/gm)].map((m) => ({
  name: m[1]!,
  value: m[2]!,
}));
const DEPLOY_SHORT_FORMS = [
  "deploy",
  "rollback",
  "backups",
  "releases",
  "status",
  "unlock",
  "logs",
  "deploySummary",
];
let scanned: ScannedModule;

beforeAll(async () => {
  scanned = await scanModule();
});

/** The function and argument a name sets, as the engine resolves a main-object default. */
function target(name: string): { fn: string; arg: string } | undefined {
  const methods = scanned.objects.Qgo!.methods;
  for (const fn of Object.values(methods)) {
    const defaults = defaultsFor(new Map([[name, "x"]]), "qgo", "Qgo", fn.name);
    for (const key of defaults.keys()) {
      const arg = Object.keys(fn.arguments).find((a) => a.toLowerCase() === key.toLowerCase());
      if (arg) return { fn: fn.name, arg };
    }
  }
  return undefined;
}

describe(".env.example (saved arguments for dagger call on a laptop)", () => {
  it("every name is a function argument of the module, or a helper another line expands", () => {
    const problems: string[] = [];
    for (const { name, value } of assignments) {
      const hit = target(name);
      const expanded = assignments.some((a) => a.value.includes(`\${${name}}`));
      if (!hit && !expanded)
        problems.push(`${name}: no function argument of that name, and no line uses it`);
      if (hit && expanded) problems.push(`${name}: a helper must not also set an argument`);
      if (hit) {
        const type = typeText(scanned.objects.Qgo!.methods[hit.fn]!.arguments[hit.arg]!.type);
        const resolved = value.replace(
          /\$\{([A-Za-z_]+)\}/g,
          (_, n: string) => assignments.find((a) => a.name === n)?.value ?? "",
        );
        if (type === "Secret" && !/^(file|env|op):\/\//.test(resolved))
          problems.push(`${name}: a Secret must be a URI, got ${resolved}`);
      }
      // Constructor arguments read the file as it is: a name must not set one by accident.
      const ctorArgs = Object.keys(scanned.objects.Qgo!.constructor.arguments);
      if (ctorArgs.some((a) => a.toLowerCase() === name.toLowerCase()))
        problems.push(`${name}: sets a constructor argument`);
    }
    expect(problems).toEqual([]);
    expect(assignments.length).toBeGreaterThan(10);
  });

  it("fills every required argument of the deploy short forms and environment but the environment's name", () => {
    const values = parseDotEnv(example, { HOME: "/home/someone" });
    for (const fn of [...DEPLOY_SHORT_FORMS, "environment"]) {
      const method = scanned.objects.Qgo!.methods[fn]!;
      const defaults = defaultsFor(values, "qgo", "Qgo", fn);
      const given = new Set([...defaults.keys()].map((k) => k.toLowerCase()));
      const required = Object.values(method.arguments).filter(
        (a) => !a.isOptional && a.defaultValue === undefined,
      );
      const missing = required
        .map((a) => a.name)
        .filter((a) => !["env", "name"].includes(a) && !given.has(a.toLowerCase()));
      expect(missing, fn).toEqual([]);
    }
    expect(values.get("DEPLOY_SSHKEY")).toBe("file:///home/someone/.ssh/qgo_deploy");
  });

  it("no .env reaches a container or the repository: the source ignores **/.env, git ignores .env", () => {
    const ignore = scanned.objects.Qgo!.constructor.arguments.source!.ignore ?? [];
    const matcher = new PatternMatcher(ignore);
    expect(matcher.matchesOrParentMatches(".env")).toBe(true);
    expect(matcher.matchesOrParentMatches("backend/.env")).toBe(true);
    expect(matcher.matchesOrParentMatches(".env.example")).toBe(false);
    const checkIgnore = (path: string) =>
      spawnSync("git", ["check-ignore", "-q", path], { cwd: REPO_ROOT }).status;
    expect(checkIgnore(".env")).toBe(0);
    expect(checkIgnore(".env.example")).toBe(1);
  });
});

describe("the engine's lookup rules for local defaults (core/modfunc.go, core/envfile.go at v0.21.8)", () => {
  const values = new Map([
    ["DEPLOY_SSHKEY", "a"],
    ["deploy_summary_runurl", "b"],
    ["DEPLOYSUMMARY_OUTCOME", "c"],
    ["DEPLOY_SSH_KEY", "d"],
    ["QGO_STATUS_SSHKEY", "e"],
    ["TESTIMAGE", "f"],
  ]);
  it("a function's names are FUNCTION_ARG, camel or snake prefix, case-insensitive; the argument name has no separators", () => {
    expect([...defaultsFor(values, "qgo", "Qgo", "deploy")]).toEqual([
      ["SSHKEY", "a"],
      ["summary_runurl", "b"],
      ["SSH_KEY", "d"],
    ]);
    expect(defaultsFor(values, "qgo", "Qgo", "deploySummary")).toEqual(
      new Map([
        ["runurl", "b"],
        ["OUTCOME", "c"],
      ]),
    );
  });

  it("the outer file's MODULENAME_ entries count; constructor arguments read the names as they are", () => {
    expect(defaultsFor(values, "qgo", "Qgo", "status").get("SSHKEY")).toBe("e");
    expect(defaultsFor(values, "qgo", "Qgo", "").get("TESTIMAGE")).toBe("f");
  });

  it("values are shell words: ${VAR} from the file, then the host; quotes; an unset variable is an error", () => {
    const parsed = parseDotEnv("A=x\nB=${A}/y\nC='${A}'\nD=\"$A z\"\nE=${HOME}/k # note\n", {
      HOME: "/h",
    });
    expect(Object.fromEntries(parsed)).toEqual({
      A: "x",
      B: "x/y",
      C: "${A}",
      D: "x z",
      E: "/h/k",
    });
    expect(() => parseDotEnv("A=${NOPE}", {})).toThrow(/NOPE is unset/);
  });
});

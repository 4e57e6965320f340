// The CLI surface, read the way the engine reads it: the SDK's own scanner over dagger/src
// (its introspection entrypoint in dry-run mode) and the module's registration call through the
// SDK entrypoint against the stand-in engine. Proves names, arguments, defaults, optionality,
// doc strings, checks and cache policies as `dagger call --help` will show them.
import { readFileSync } from "node:fs";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { isRef, type Ref } from "../standin/engine.js";
import { REPO_ROOT, StandInEngine } from "../standin/engine.js";
import {
  scanModule,
  typeText,
  type ScannedArgument,
  type ScannedModule,
} from "../standin/introspect.js";
import {
  expectedConstructor,
  expectedEnvironmentFunctions,
  expectedFunctions,
  kebab,
  type ExpectedArgument,
} from "./expected-surface.js";

let scanned: ScannedModule;
/** The module's objects and their functions: Qgo (the main object) and Environment. */
const expectedObjects = { Qgo: expectedFunctions, Environment: expectedEnvironmentFunctions };

beforeAll(async () => {
  scanned = await scanModule();
});

function expectArgument(
  kind: string,
  actual: ScannedArgument | undefined,
  expected: ExpectedArgument,
): void {
  const where = `${kind} argument ${expected.name}`;
  expect(actual, where).toBeDefined();
  expect(typeText(actual!.type), `${where} type`).toBe(expected.type);
  expect(actual!.description, `${where} doc string`).toContain(expected.doc);
  expect(actual!.defaultValue, `${where} default`).toEqual(expected.default);
  expect(actual!.defaultPath, `${where} defaultPath`).toBe(expected.defaultPath);
  expect(actual!.ignore, `${where} ignore`).toEqual(expected.ignore);
  expect(actual!.isOptional, `${where} optional`).toBe(expected.optional ?? false);
}

describe("CLI surface read by the SDK's scanner (dagger call --help)", () => {
  it("the main object is Qgo, with the Environment object its environment function returns; both documented", () => {
    expect(Object.keys(scanned.objects)).toEqual(["Qgo", "Environment"]);
    expect(scanned.description).toMatch(/CI\/CD pipeline/);
    expect(scanned.objects.Qgo!.description).not.toBe("");
    expect(scanned.objects.Environment!.description).toMatch(/deploy environment/);
  });

  it("the constructor takes the repository (defaultPath / with ignores) and the app-layout options", () => {
    const args = scanned.objects.Qgo!.constructor.arguments;
    expect(Object.keys(args)).toEqual(expectedConstructor.map((a) => a.name));
    for (const expected of expectedConstructor)
      expectArgument("constructor", args[expected.name], expected);
  });

  for (const [object, functions] of Object.entries(expectedObjects)) {
    it(`${object} exposes exactly the expected functions`, () => {
      expect(Object.keys(scanned.objects[object]!.methods).sort()).toEqual(
        functions.map((f) => f.name).sort(),
      );
    });

    for (const expected of functions) {
      const where =
        object === "Qgo" ? kebab(expected.name) : `environment ... ${kebab(expected.name)}`;
      it(`${where}: return type, doc string, and every argument's type, default, optionality and doc`, () => {
        const actual = scanned.objects[object]!.methods[expected.name]!;
        expect(typeText(actual.returnType)).toBe(expected.returns);
        expect(actual.description).toContain(expected.doc);
        expect(Object.keys(actual.arguments)).toEqual(expected.args.map((a) => a.name));
        for (const arg of expected.args) expectArgument(where, actual.arguments[arg.name], arg);
      });
    }
  }
});

// --- Registration: what the module tells the engine when it is loaded --------------------------

interface RegisteredArgument {
  type: string;
  optional: boolean;
  defaultValue?: string;
  defaultPath?: string;
  ignore?: string[];
  description?: string;
}
interface RegisteredFunction {
  description?: string;
  cachePolicies: string[];
  check: boolean;
  args: Map<string, RegisteredArgument>;
}

function registeredType(ref: Ref): { type: string; optional: boolean } {
  let type = "?";
  let optional = false;
  for (const step of ref.chain) {
    if (step.field === "withKind") {
      // The enum has both spellings: STRING and STRING_KIND.
      const kind = String(step.args.kind);
      type = typeText({ kind: kind.endsWith("_KIND") ? kind : `${kind}_KIND` });
    }
    if (step.field === "withObject") type = String(step.args.name);
    if (step.field === "withListOf" && isRef(step.args.elementType)) {
      type = `[${registeredType(step.args.elementType).type}]`;
    }
    if (step.field === "withOptional") optional = step.args.optional === true;
  }
  return { type, optional };
}

function registeredFunction(ref: Ref): RegisteredFunction {
  const fn: RegisteredFunction = { cachePolicies: [], check: false, args: new Map() };
  for (const step of ref.chain) {
    if (step.field === "withDescription") fn.description = String(step.args.description);
    if (step.field === "withCachePolicy") fn.cachePolicies.push(String(step.args.policy));
    if (step.field === "withCheck") fn.check = true;
    if (step.field === "withArg" && isRef(step.args.typeDef)) {
      const arg: RegisteredArgument = registeredType(step.args.typeDef);
      for (const key of ["defaultValue", "defaultPath", "description"] as const) {
        const value = step.args[key];
        if (typeof value === "string") arg[key] = value;
      }
      if (step.args.ignore !== undefined) arg.ignore = step.args.ignore as string[];
      fn.args.set(String(step.args.name), arg);
    }
  }
  return fn;
}

describe("registration through the SDK entrypoint (what the engine is told when it loads the module)", () => {
  let engine: StandInEngine;
  /** Every registered object: its functions and its constructor (if any). */
  const objects = new Map<
    string,
    { functions: Map<string, RegisteredFunction>; ctor?: RegisteredFunction }
  >();
  // The main object's, which most checks read.
  let functions = new Map<string, RegisteredFunction>();
  let constructor: RegisteredFunction | undefined;

  beforeAll(async () => {
    engine = await StandInEngine.start();
    const result = await engine.call({ parentName: "", fnName: "" });
    if (result.exitCode !== 0 || typeof result.returnValue !== "string") {
      throw new Error(`registration failed (exit ${result.exitCode}):\n${result.output}`);
    }
    const moduleChain = engine.lookup(result.returnValue)?.chain ?? [];
    for (const registered of moduleChain.filter((s) => s.field === "withObject")) {
      const object = registered.args.object;
      if (!isRef(object)) throw new Error(`not an object: ${JSON.stringify(registered)}`);
      const entry: { functions: Map<string, RegisteredFunction>; ctor?: RegisteredFunction } = {
        functions: new Map(),
      };
      let name = "";
      for (const step of object.chain) {
        if (step.field === "withObject") name = String(step.args.name);
        if (step.field === "withFunction" && isRef(step.args.function)) {
          const fnName = String(
            step.args.function.chain.find((s) => s.field === "function")?.args.name,
          );
          entry.functions.set(fnName, registeredFunction(step.args.function));
        }
        if (step.field === "withConstructor" && isRef(step.args.function))
          entry.ctor = registeredFunction(step.args.function);
      }
      objects.set(name, entry);
    }
    functions = objects.get("Qgo")?.functions ?? new Map<string, RegisteredFunction>();
    constructor = objects.get("Qgo")?.ctor;
  });

  afterAll(async () => {
    await engine?.stop();
  });

  it("registers Qgo with every expected function and a constructor, and Environment with its methods and none", () => {
    expect([...objects.keys()]).toEqual(["Qgo", "Environment"]);
    expect([...functions.keys()].sort()).toEqual(expectedFunctions.map((f) => f.name).sort());
    expect(constructor).toBeDefined();
    const environment = objects.get("Environment")!;
    expect([...environment.functions.keys()].sort()).toEqual(
      expectedEnvironmentFunctions.map((f) => f.name).sort(),
    );
    // Only the module's own functions make an Environment: no constructor for the engine to call.
    expect(environment.ctor).toBeUndefined();
    for (const expected of expectedEnvironmentFunctions) {
      const registered = environment.functions.get(expected.name)!;
      expect(registered.cachePolicies, expected.name).toEqual(["Never"]);
      expect([...registered.args.keys()], expected.name).toEqual(expected.args.map((a) => a.name));
    }
  });

  it("side-effecting functions are registered with cache policy Never, all others with the engine's Default", () => {
    for (const expected of expectedFunctions) {
      const policies = functions.get(expected.name)!.cachePolicies;
      expect(policies, kebab(expected.name)).toEqual(
        expected.cache === "never" ? ["Never"] : ["Default"],
      );
    }
  });

  it("exactly lint and test are checks (dagger check), and they take no required arguments", () => {
    const checks = [...functions.entries()].filter(([, fn]) => fn.check).map(([name]) => name);
    expect(checks.sort()).toEqual(
      expectedFunctions
        .filter((f) => f.check)
        .map((f) => f.name)
        .sort(),
    );
    for (const name of checks) {
      for (const arg of functions.get(name)!.args.values())
        expect(arg.defaultValue ?? arg.optional).toBeTruthy();
    }
  });

  it("the source directory is contextual (defaultPath /) with the ignore patterns; image options have JSON defaults", () => {
    for (const expected of expectedConstructor) {
      const arg = constructor!.args.get(expected.name)!;
      expect(arg.type, expected.name).toBe(expected.type);
      expect(arg.description, expected.name).toContain(expected.doc);
      if (expected.defaultPath !== undefined) {
        expect(arg.defaultPath).toBe(expected.defaultPath);
        expect(arg.ignore).toEqual(expected.ignore);
      } else {
        expect(arg.defaultValue, expected.name).toBe(JSON.stringify(expected.default));
      }
    }
  });

  it("every function argument is registered with its type, JSON default and doc string", () => {
    for (const expected of expectedFunctions) {
      const fn = functions.get(expected.name)!;
      expect(fn.description, kebab(expected.name)).toContain(expected.doc);
      expect([...fn.args.keys()]).toEqual(expected.args.map((a) => a.name));
      for (const arg of expected.args) {
        const registered = fn.args.get(arg.name)!;
        expect(registered.type, `${expected.name}.${arg.name}`).toBe(arg.type);
        expect(registered.description, `${expected.name}.${arg.name}`).toContain(arg.doc);
        if (typeof arg.default === "object" && arg.default !== null) {
          // The SDK registers only primitive defaults; a list default makes the argument optional
          // and TypeScript applies the default at run time.
          expect(registered.defaultValue, `${expected.name}.${arg.name}`).toBeUndefined();
          expect(registered.optional, `${expected.name}.${arg.name}`).toBe(true);
        } else {
          expect(registered.defaultValue, `${expected.name}.${arg.name}`).toBe(
            arg.default === undefined ? undefined : JSON.stringify(arg.default),
          );
          expect(registered.optional, `${expected.name}.${arg.name}`).toBe(arg.optional ?? false);
        }
      }
    }
  });

  it("every registration query is valid against the engine schema", () => {
    console.log(
      engine.validating
        ? `validated ${engine.allQueries.length} queries against ${engine.schemaPath}`
        : `NOT validated: ${engine.schemaPath} is missing`,
    );
    expect(engine.allQueries.filter((q) => q.invalid.length > 0)).toEqual([]);
  });
});

describe('README.md, section "The pipeline: Dagger functions"', () => {
  const readme = readFileSync(join(REPO_ROOT, "README.md"), "utf8");
  const start = readme.indexOf("\n## The pipeline: Dagger functions");
  const end = readme.indexOf("\n## ", start + 1);
  const docs = readme.slice(start, end === -1 ? undefined : end);

  it("exists", () => {
    expect(start).toBeGreaterThan(-1);
  });

  const rows = new Map<string, string>();
  const functionsTable = docs.slice(docs.indexOf("### Functions"), docs.indexOf("\nArguments"));
  for (const line of functionsTable.split("\n")) {
    const match = /^\|\s*`([a-z][a-z-]*)`\s*\|/.exec(line);
    if (match) rows.set(match[1]!, line);
  }

  it("lists exactly the introspected functions", () => {
    const introspected = Object.keys(scanned.objects.Qgo!.methods).map(kebab).sort();
    expect([...rows.keys()].sort()).toEqual(introspected);
  });

  // "Arguments": one bullet per group of functions, `- \`a\`, \`b\`: --flags…`, wrapped lines indented.
  const argumentsOf = new Map<string, string>();
  const bullets = docs
    .slice(docs.indexOf("\nArguments"))
    .split(/\n(?=- `)/)
    .filter((b) => b.startsWith("- `"));
  for (const bullet of bullets) {
    const item = bullet.split(/\n(?! {2})/)[0]!;
    const names = item.slice(2, item.indexOf(":")).match(/`([a-z-]+)`/g) ?? [];
    for (const name of names)
      argumentsOf.set(name.replace(/`/g, ""), item.slice(item.indexOf(":") + 1));
  }

  it("keeps each function's table row short enough to scan", () => {
    for (const [name, row] of rows) expect(row.length, name).toBeLessThan(200);
  });

  it("names every argument of every function as a --flag under Arguments", () => {
    for (const fn of Object.values(scanned.objects.Qgo!.methods)) {
      const text = argumentsOf.get(kebab(fn.name));
      expect(text, `${kebab(fn.name)} has an Arguments bullet`).toBeDefined();
      for (const arg of Object.keys(fn.arguments))
        expect(text, kebab(fn.name)).toContain(`--${kebab(arg)}`);
      if (Object.keys(fn.arguments).length === 0)
        expect(text!.trim(), kebab(fn.name)).toBe("none.");
    }
  });

  it("names every constructor option as a --flag", () => {
    for (const arg of Object.keys(scanned.objects.Qgo!.constructor.arguments)) {
      expect(docs).toContain(`--${kebab(arg)}`);
    }
  });
});

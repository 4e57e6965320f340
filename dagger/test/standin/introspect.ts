// The module's CLI surface as the engine reads it: the SDK's own scanner (its introspection
// entrypoint in dry-run mode) over dagger/src. Its output is what `dagger call --help` shows:
// functions, arguments, types, defaults and optionality.
import { spawnSync } from "node:child_process";
import { join } from "node:path";

import { MODULE_DIR } from "./engine.js";
import { prepareSdkClientCopy } from "./sdk-copy.js";

export interface ScannedType {
  kind: string;
  name?: string;
  typeDef?: ScannedType;
}
export interface ScannedArgument {
  name: string;
  description: string;
  type: ScannedType;
  isOptional: boolean;
  defaultValue?: unknown;
  defaultPath?: string;
  ignore?: string[];
}
export interface ScannedFunction {
  name: string;
  description: string;
  arguments: Record<string, ScannedArgument>;
  returnType: ScannedType;
}
export interface ScannedObject {
  description: string;
  constructor: { arguments: Record<string, ScannedArgument> };
  methods: Record<string, ScannedFunction>;
}
export interface ScannedModule {
  description: string;
  objects: Record<string, ScannedObject>;
}

/** Types as the CLI shows them: String, Boolean, Integer, Secret, [String]... */
export function typeText(type: ScannedType): string {
  switch (type.kind) {
    case "STRING_KIND":
      return "String";
    case "BOOLEAN_KIND":
      return "Boolean";
    case "INTEGER_KIND":
      return "Integer";
    case "FLOAT_KIND":
      return "Float";
    case "VOID_KIND":
      return "Void";
    case "LIST_KIND":
      return `[${typeText(type.typeDef!)}]`;
    default:
      return type.name ?? type.kind;
  }
}

/** Runs the SDK's scanner over the module's source, as the engine does when it loads it. */
export async function scanModule(): Promise<ScannedModule> {
  const client = await prepareSdkClientCopy(MODULE_DIR);
  const scanner = join(
    MODULE_DIR,
    "node_modules/@dagger.io/dagger/dist/src/module/entrypoint/introspection_entrypoint.js",
  );
  const run = spawnSync(process.execPath, [scanner, "qgo", join(MODULE_DIR, "src"), client], {
    env: { ...process.env, DRY_RUN: "1" },
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  if (run.status !== 0) throw new Error(`SDK scanner failed:\n${run.stderr}\n${run.stdout}`);
  return JSON.parse(run.stdout) as ScannedModule;
}

// How the Dagger CLI (v0.21.8, cmd/dagger) turns `dagger [flags] call [ctor flags] fn [flags]
// [chained fn [flags]]` into a function call, for the argument types this module uses. Read
// from the CLI's source at v0.21.8: cobra with interspersed flags off (the first positional word
// is the next function), pflag parsing (`--name value` or `--name=value`; a Boolean takes no
// separate value; a repeated flag wins, except lists, which append), flag names are the
// arguments' names in kebab-case, String/Integer/Boolean are pflag's own types, [String] is
// pflag's StringSlice (each value read as one CSV record), and a Secret is an address such as
// env://NAME resolved from the caller's environment (a missing variable is an error).
import type { ScannedArgument, ScannedModule } from "../standin/introspect.js";
import { typeText } from "../standin/introspect.js";

export const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/** Raw flag values of one function in the chain, by argument name (camelCase). */
export type RawArgs = Record<string, string[]>;

export interface ParsedCommand {
  global: RawArgs;
  verb: string;
  constructorArgs: RawArgs;
  fn: string;
  args: RawArgs;
  /** Functions of the module's own objects chained on the result, e.g. environment --name x deploy. */
  calls: { object: string; fn: string; args: RawArgs }[];
  /** Functions of core types chained on the result, e.g. export --path. */
  chained: { fn: string; args: RawArgs }[];
}

/** Flags of the Dagger CLI itself that our workflows may use, and whether they take a value. */
const GLOBAL_FLAGS: Record<string, boolean> = {
  progress: true,
  lock: true,
  mod: true,
  m: true,
  silent: false,
  debug: false,
};
/** Functions of core types that a workflow chains after ours. */
const CORE_CHAINS: Record<string, Record<string, Record<string, ScannedArgument>>> = {
  File: {
    export: { path: stringArg("path"), allowParentDirPath: boolArg("allowParentDirPath") },
    contents: {},
  },
  Directory: { export: { path: stringArg("path") } },
};

function stringArg(name: string): ScannedArgument {
  return { name, description: "", type: { kind: "STRING_KIND" }, isOptional: false };
}
function boolArg(name: string): ScannedArgument {
  return { name, description: "", type: { kind: "BOOLEAN_KIND" }, isOptional: true };
}

/** pflag's parsing of one command's flags, up to the first positional word. */
function parseFlags(
  argv: string[],
  start: number,
  known: Record<string, ScannedArgument>,
  where: string,
): { raw: RawArgs; next: number } {
  const byFlag = new Map(Object.values(known).map((a) => [kebab(a.name), a]));
  const raw: RawArgs = {};
  let i = start;
  while (i < argv.length && argv[i]!.startsWith("-")) {
    const word = argv[i]!;
    const body = word.replace(/^--?/, "");
    const eq = body.indexOf("=");
    const name = eq >= 0 ? body.slice(0, eq) : body;
    const arg = byFlag.get(name);
    if (!arg) throw new Error(`${where}: unknown flag: --${name}`);
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else if (typeText(arg.type) === "Boolean") value = "true";
    else {
      if (i + 1 >= argv.length) throw new Error(`${where}: flag needs an argument: --${name}`);
      value = argv[++i]!;
    }
    (raw[arg.name] ??= []).push(value);
    i += 1;
  }
  return { raw, next: i };
}

/**
 * Parses the argv a `dagger` binary receives, against the module's introspected surface: the
 * main object's function, then functions of the module's objects it returns (each with its own
 * flags), then functions of core types (export).
 */
export function parseDaggerArgv(argv: string[], module: ScannedModule): ParsedCommand {
  const main = module.objects.Qgo!;
  const globals: Record<string, ScannedArgument> = Object.fromEntries(
    Object.entries(GLOBAL_FLAGS).map(([name, takesValue]) => [
      name,
      takesValue ? stringArg(name) : boolArg(name),
    ]),
  );
  const global = parseFlags(argv, 0, globals, "dagger");
  const verb = argv[global.next];
  if (verb !== "call") throw new Error(`only \`dagger call\` is modelled, got: ${verb}`);
  const ctor = parseFlags(argv, global.next + 1, main.constructor.arguments, "dagger call");
  const calls: ParsedCommand["calls"] = [];
  let i = ctor.next;
  let type = "Qgo";
  while (i < argv.length && module.objects[type]) {
    const object = type;
    const fn = Object.values(module.objects[object]!.methods).find(
      (m) => kebab(m.name) === argv[i],
    );
    if (!fn) throw new Error(`dagger call: ${object} has no function "${argv[i]}"`);
    const parsed = parseFlags(argv, i + 1, fn.arguments, kebab(fn.name));
    calls.push({ object, fn: fn.name, args: parsed.raw });
    i = parsed.next;
    type = typeText(fn.returnType);
  }
  if (calls.length === 0) throw new Error("dagger call: no function named");
  const chained: ParsedCommand["chained"] = [];
  while (i < argv.length) {
    const chain = CORE_CHAINS[type]?.[argv[i]!];
    if (!chain) throw new Error(`${type} has no function "${argv[i]}" the CLI could chain`);
    const parsed = parseFlags(argv, i + 1, chain, argv[i]!);
    chained.push({ fn: argv[i]!, args: parsed.raw });
    i = parsed.next;
    type = "String";
  }
  const [first, ...rest] = calls;
  return {
    global: global.raw,
    verb,
    constructorArgs: ctor.raw,
    fn: first!.fn,
    args: first!.args,
    calls: rest,
    chained,
  };
}

/** Go's csv.Reader.Read of one flag value: the first record's fields ("" gives none). */
function csvRecord(value: string): string[] {
  if (value === "") return [];
  const fields: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (quoted) {
      if (c === '"' && value[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === "") quoted = true;
    else if (c === ",") {
      fields.push(field);
      field = "";
    } else if (c === "\n" || c === "\r")
      break; // a record ends at the line's end
    else field += c;
  }
  fields.push(field);
  return fields;
}

export interface TypedSecret {
  secret: string;
  plaintext: string;
}
export type TypedValue = string | number | boolean | string[] | TypedSecret;

/** The values the function receives: each raw flag value turned into its argument's type. */
export function typedArgs(
  raw: RawArgs,
  known: Record<string, ScannedArgument>,
  env: Record<string, string>,
): Record<string, TypedValue> {
  const typed: Record<string, TypedValue> = {};
  for (const [name, values] of Object.entries(raw)) {
    const arg = known[name]!;
    const last = values[values.length - 1]!;
    const type = typeText(arg.type);
    if (type === "String") typed[name] = last;
    else if (type === "Integer") {
      if (!/^[+-]?\d+$/.test(last))
        throw new Error(`invalid argument "${last}" for "--${kebab(name)}" flag: parse error`);
      typed[name] = Number(last);
    } else if (type === "Boolean") {
      const parsed = {
        "1": true,
        t: true,
        T: true,
        TRUE: true,
        true: true,
        True: true,
        "0": false,
        f: false,
        F: false,
        FALSE: false,
        false: false,
        False: false,
      }[last];
      if (parsed === undefined)
        throw new Error(
          `invalid argument "${last}" for "--${kebab(name)}" flag: strconv.ParseBool: parsing "${last}": invalid syntax`,
        );
      typed[name] = parsed;
    } else if (type === "[String]") typed[name] = values.flatMap(csvRecord);
    else if (type === "Secret") {
      // env://NAME (or a bare NAME, deprecated) is read from the caller's environment.
      const envName = /^env:\/\/(.+)$/.exec(last)?.[1] ?? (last.includes(":") ? undefined : last);
      if (envName === undefined)
        throw new Error(`--${kebab(name)}: only env:// secrets are modelled, got ${last}`);
      const plaintext = env[envName];
      if (plaintext === undefined)
        throw new Error(
          `failed to get value for argument "${kebab(name)}": secret env var not found: "${envName.slice(0, 3)}..."`,
        );
      typed[name] = { secret: `env://${envName}`, plaintext };
    } else throw new Error(`--${kebab(name)}: type ${type} is not modelled`);
  }
  return typed;
}

/**
 * What a command does, as one operation: the last module function called (`deploy` for both
 * `deploy --env x` and `environment --name x deploy`) with the typed values of every module
 * function in the chain; the environment's name is `env` however it was given.
 */
export function operationOf(
  parsed: ParsedCommand,
  module: ScannedModule,
  env: Record<string, string>,
): { fn: string; args: Record<string, TypedValue> } {
  const links = [{ object: "Qgo", fn: parsed.fn, args: parsed.args }, ...parsed.calls];
  const args: Record<string, TypedValue> = {};
  for (const link of links) {
    const typed = typedArgs(
      link.args,
      module.objects[link.object]!.methods[link.fn]!.arguments,
      env,
    );
    if (link.object === "Qgo" && link.fn === "environment" && "name" in typed) {
      typed.env = typed.name!;
      delete typed.name;
    }
    Object.assign(args, typed);
  }
  return { fn: links.at(-1)!.fn, args };
}

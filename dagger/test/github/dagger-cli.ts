// How the Dagger CLI (v0.21.8, cmd/dagger) turns `dagger [flags] call [ctor flags] fn [flags]
// [chained fn [flags]]` into a function call, for the argument types this module uses. Read
// from the CLI's source at v0.21.8: cobra with interspersed flags off (the first positional word
// is the next function), pflag parsing (`--name value` or `--name=value`; a Boolean takes no
// separate value; a repeated flag wins, except lists, which append), flag names are the
// arguments' names in kebab-case, String/Integer/Boolean are pflag's own types, [String] is
// pflag's StringSlice (each value read as one CSV record), and a Secret is an address such as
// env://NAME resolved from the caller's environment (a missing variable is an error).
import type { ScannedArgument, ScannedObject } from "../standin/introspect.js";
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
  /** Functions chained on the result, e.g. export --path. */
  chained: { fn: string; args: RawArgs }[];
}

/** Flags of the Dagger CLI itself that our workflows may use, and whether they take a value. */
const GLOBAL_FLAGS: Record<string, boolean> = { progress: true, lock: true, mod: true, m: true, silent: false, debug: false };
/** Functions of core types that a workflow chains after ours. */
const CORE_CHAINS: Record<string, Record<string, Record<string, ScannedArgument>>> = {
  File: { export: { path: stringArg("path"), allowParentDirPath: boolArg("allowParentDirPath") }, contents: {} },
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

/** Parses the argv a `dagger` binary receives, against the module's introspected surface. */
export function parseDaggerArgv(argv: string[], main: ScannedObject): ParsedCommand {
  const globals: Record<string, ScannedArgument> = Object.fromEntries(
    Object.entries(GLOBAL_FLAGS).map(([name, takesValue]) => [name, takesValue ? stringArg(name) : boolArg(name)]),
  );
  const global = parseFlags(argv, 0, globals, "dagger");
  const verb = argv[global.next];
  if (verb !== "call") throw new Error(`only \`dagger call\` is modelled, got: ${verb}`);
  const ctor = parseFlags(argv, global.next + 1, main.constructor.arguments, "dagger call");
  const fnWord = argv[ctor.next];
  const fn = Object.values(main.methods).find((m) => kebab(m.name) === fnWord);
  if (!fn) throw new Error(`dagger call: unknown function "${fnWord}"`);
  const fnArgs = parseFlags(argv, ctor.next + 1, fn.arguments, kebab(fn.name));
  const chained: ParsedCommand["chained"] = [];
  let type = typeText(fn.returnType);
  let i = fnArgs.next;
  while (i < argv.length) {
    const chain = CORE_CHAINS[type]?.[argv[i]!];
    if (!chain) throw new Error(`${type} has no function "${argv[i]}" the CLI could chain`);
    const parsed = parseFlags(argv, i + 1, chain, argv[i]!);
    chained.push({ fn: argv[i]!, args: parsed.raw });
    i = parsed.next;
    type = "String";
  }
  return { global: global.raw, verb, constructorArgs: ctor.raw, fn: fn.name, args: fnArgs.raw, chained };
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
    } else if (c === "\n" || c === "\r") break; // a record ends at the line's end
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
      if (!/^[+-]?\d+$/.test(last)) throw new Error(`invalid argument "${last}" for "--${kebab(name)}" flag: parse error`);
      typed[name] = Number(last);
    } else if (type === "Boolean") {
      const parsed = { "1": true, t: true, T: true, TRUE: true, true: true, True: true, "0": false, f: false, F: false, FALSE: false, false: false, False: false }[last];
      if (parsed === undefined) throw new Error(`invalid argument "${last}" for "--${kebab(name)}" flag: strconv.ParseBool: parsing "${last}": invalid syntax`);
      typed[name] = parsed;
    } else if (type === "[String]") typed[name] = values.flatMap(csvRecord);
    else if (type === "Secret") {
      // env://NAME (or a bare NAME, deprecated) is read from the caller's environment.
      const envName = /^env:\/\/(.+)$/.exec(last)?.[1] ?? (last.includes(":") ? undefined : last);
      if (envName === undefined) throw new Error(`--${kebab(name)}: only env:// secrets are modelled, got ${last}`);
      const plaintext = env[envName];
      if (plaintext === undefined) throw new Error(`failed to get value for argument "${kebab(name)}": secret env var not found: "${envName.slice(0, 3)}..."`);
      typed[name] = { secret: `env://${envName}`, plaintext };
    } else throw new Error(`--${kebab(name)}: type ${type} is not modelled`);
  }
  return typed;
}

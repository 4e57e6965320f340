// Dagger's local defaults (.env next to dagger.json) as engine v0.21.8 applies them, for the
// stand-in engine. Read in the engine source: core/modfunc.go (UserDefault, the primitive and
// object conversions), core/module.go (ObjectUserDefaults: the main object's functions read the
// file as is, any other object's through its name as a prefix), core/envfile.go (Namespace,
// cutFlexPrefix: `deploy_` or `deploySummary_`/`deploy_summary_`, case-insensitive;
// LookupCaseInsensitive on the argument's name, so sshKey is SSHKEY, never SSH_KEY),
// core/modulesource.go (the inner .env, plus the outer one's QGO_-prefixed entries) and
// core/dotenv (values are shell words: quotes, $VAR and ${VAR} from the file, else the host's
// environment; an unset variable is an error).
//
// What this substitutes: the engine reads the file and resolves Secret URIs on the caller's
// host; here the test process does both, for env:// and file:// (the URIs the README uses).
import { readFileSync } from "node:fs";

import type { ScannedArgument, ScannedModule } from "./introspect.js";
import type { StandInEngine } from "./engine.js";

/** Parses a .env text into expanded values (a subset of the shell-word grammar, as documented). */
export function parseDotEnv(
  text: string,
  host: NodeJS.ProcessEnv = process.env,
): Map<string, string> {
  const raw = new Map<string, string>();
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim().replace(/^export\s+/, "");
    if (line === "" || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    if (at <= 0 || !/^[A-Za-z_][A-Za-z0-9_]*$/.test(line.slice(0, at))) {
      throw new Error(`.env: not a NAME=value line: ${rawLine}`);
    }
    raw.set(line.slice(0, at), line.slice(at + 1));
  }
  const expanded = new Map<string, string>();
  const expanding = new Set<string>();
  const lookup = (name: string): string => {
    const done = expanded.get(name);
    if (done !== undefined) return done;
    const word = raw.get(name);
    if (word === undefined) {
      const value = host[name];
      if (value === undefined) throw new Error(`.env: ${name} is unset`);
      return value;
    }
    if (expanding.has(name)) throw new Error(`.env: circular dependency at ${name}`);
    expanding.add(name);
    const value = expandWord(word, lookup);
    expanding.delete(name);
    expanded.set(name, value);
    return value;
  };
  for (const name of raw.keys()) lookup(name);
  return expanded;
}

/** One shell word: '...' literal, "..." and bare text with $VAR / ${VAR}; an unquoted # starts a comment. */
function expandWord(word: string, lookup: (name: string) => string): string {
  let out = "";
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < word.length; i += 1) {
    const c = word[i]!;
    if (quote === "'") {
      if (c === "'") quote = undefined;
      else out += c;
    } else if (c === "'" && !quote) {
      quote = "'";
    } else if (c === '"') {
      quote = quote ? undefined : '"';
    } else if (c === "#" && !quote && (i === 0 || /\s/.test(word[i - 1]!))) {
      break;
    } else if (c === "$") {
      const braced = /^\$\{([A-Za-z_][A-Za-z0-9_]*)\}/.exec(word.slice(i));
      const bare = /^\$([A-Za-z_][A-Za-z0-9_]*)/.exec(word.slice(i));
      const match = braced ?? bare;
      if (!match) {
        out += c;
        continue;
      }
      out += lookup(match[1]!);
      i += match[0].length - 1;
    } else {
      out += c;
    }
  }
  return quote ? out : out.trimEnd();
}

const snake = (name: string) => name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toLowerCase();

/** EnvFile.Namespace: entries whose name starts with `prefix_` (camel or snake case), prefix removed. */
export function namespace(values: Map<string, string>, prefix: string): Map<string, string> {
  const result = new Map<string, string>();
  const prefixes = [
    `${prefix.charAt(0).toLowerCase()}${prefix.slice(1)}_`,
    `${snake(prefix)}_`,
  ].map((p) => p.toLowerCase());
  for (const [name, value] of values) {
    const hit = prefixes.find((p) => name.toLowerCase().startsWith(p));
    if (hit) result.set(name.slice(hit.length), value);
  }
  return result;
}

/** The defaults of one function: `objectName` "" or the main object's name for the main object, `fnName` "" for a constructor. */
export function defaultsFor(
  values: Map<string, string>,
  moduleName: string,
  objectName: string,
  fnName: string,
): Map<string, string> {
  // The inner .env as it is, plus the outer (found upward) one's MODULENAME_ entries.
  const merged = new Map([...values, ...namespace(values, moduleName)]);
  const isMain =
    objectName === "" || objectName.toLowerCase() === moduleName.replace(/-/g, "").toLowerCase();
  const ofObject = isMain ? merged : namespace(merged, objectName);
  return fnName === "" ? ofObject : namespace(ofObject, fnName);
}

/** The value an argument gets from a default's text, as modfunc.go converts it. */
function convert(engine: StandInEngine, argument: ScannedArgument, text: string): unknown {
  const type = argument.type;
  switch (type.kind) {
    case "STRING_KIND":
      return text;
    case "INTEGER_KIND":
      if (!/^-?\d+$/.test(text))
        throw new Error(`user default ${argument.name}=${text}: not an integer`);
      return Number(text);
    case "LIST_KIND":
      return text.split(",");
    case "OBJECT_KIND":
      if (type.name !== "Secret")
        throw new Error(`user default ${argument.name}: only Secret objects are emulated`);
      return engine.secret(text.includes("://") ? text : `plaintext`, secretValue(text));
    default:
      return JSON.parse(text);
  }
}

/** What the CLI's secret providers read for env:// and file:// (a plain value is the secret itself). */
function secretValue(uri: string): string {
  if (uri.startsWith("env://")) {
    const value = process.env[uri.slice("env://".length)];
    if (value === undefined) throw new Error(`secret ${uri}: the variable is not set`);
    return value;
  }
  if (uri.startsWith("file://")) return readFileSync(uri.slice("file://".length), "utf8");
  if (uri.includes("://")) throw new Error(`secret ${uri}: only env:// and file:// are emulated`);
  return uri;
}

/**
 * The arguments a call gets: the explicit ones, then for each argument not given, its local
 * default (explicit flags always win, as in the engine).
 */
export function withLocalDefaults(
  engine: StandInEngine,
  scanned: ScannedModule,
  dotEnv: string,
  objectName: string,
  fnName: string,
  explicit: Record<string, unknown>,
  host: NodeJS.ProcessEnv = process.env,
): Record<string, unknown> {
  const object = scanned.objects[objectName];
  if (!object) throw new Error(`no object ${objectName}`);
  const args = fnName === "" ? object.constructor.arguments : object.methods[fnName]?.arguments;
  if (!args) throw new Error(`no function ${objectName}.${fnName}`);
  const defaults = defaultsFor(parseDotEnv(dotEnv, host), "qgo", objectName, fnName);
  const result = { ...explicit };
  for (const argument of Object.values(args)) {
    if (argument.name in explicit) continue;
    const text = [...defaults].find(
      ([name]) => name.toLowerCase() === argument.name.toLowerCase(),
    )?.[1];
    if (text !== undefined) result[argument.name] = convert(engine, argument, text);
  }
  return result;
}

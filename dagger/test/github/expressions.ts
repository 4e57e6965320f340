// GitHub Actions expressions (`${{ … }}`), evaluated the way the runner does for the subset our
// workflows use: contexts (github.sha, inputs.x, secrets.X, needs.job.outputs.y, steps.id.outcome),
// string/boolean/number/null literals, ! == != && || and parentheses, and format(). Strings
// compare case-insensitively; && and || return an operand, as GitHub documents. Anything else
// throws, so a workflow that starts using more fails here instead of being half-evaluated.

export type Value = string | number | boolean | null | { [key: string]: Value } | Value[];
export type Context = Record<string, Value>;

type Token = { kind: "str" | "num" | "word" | "op"; text: string };

function tokenize(source: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < source.length) {
    const c = source[i]!;
    if (/\s/.test(c)) {
      i += 1;
    } else if (c === "'") {
      // '' is an escaped quote inside a string literal.
      let text = "";
      i += 1;
      for (;;) {
        if (i >= source.length) throw new Error(`unterminated string in: ${source}`);
        if (source[i] === "'" && source[i + 1] === "'") {
          text += "'";
          i += 2;
        } else if (source[i] === "'") {
          i += 1;
          break;
        } else text += source[i++];
      }
      tokens.push({ kind: "str", text });
    } else if (/[0-9]/.test(c)) {
      const m = /^[0-9.]+/.exec(source.slice(i))![0];
      tokens.push({ kind: "num", text: m });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.-]*/.exec(source.slice(i))![0];
      tokens.push({ kind: "word", text: m });
      i += m.length;
    } else {
      const op = ["==", "!=", "&&", "||"].find((o) => source.startsWith(o, i)) ?? c;
      if (!["==", "!=", "&&", "||", "!", "(", ")", ","].includes(op)) {
        throw new Error(`unsupported character "${c}" in expression: ${source}`);
      }
      tokens.push({ kind: "op", text: op });
      i += op.length;
    }
  }
  return tokens;
}

const truthy = (v: Value): boolean => !(v === null || v === false || v === 0 || v === "");

function text(v: Value): string {
  if (v === null) return "";
  if (typeof v === "object") return JSON.stringify(v);
  return String(v);
}

function equal(a: Value, b: Value): boolean {
  if (typeof a === "string" && typeof b === "string") return a.toLowerCase() === b.toLowerCase();
  return a === b;
}

function lookup(path: string, context: Context): Value {
  let value: Value | undefined = context;
  for (const part of path.split(".")) {
    if (value === null || typeof value !== "object" || Array.isArray(value)) return null;
    value = (value as Record<string, Value>)[part];
    if (value === undefined) return null;
  }
  return value;
}

/** Evaluates one expression (the text between `${{` and `}}`). */
export function evaluate(source: string, context: Context): Value {
  const tokens = tokenize(source);
  let pos = 0;
  const peek = () => tokens[pos];
  const take = (expected?: string): Token => {
    const token = tokens[pos++];
    if (!token || (expected !== undefined && token.text !== expected)) {
      throw new Error(`expected ${expected ?? "more"} in expression: ${source}`);
    }
    return token;
  };
  const primary = (): Value => {
    const token = take();
    if (token.kind === "str") return token.text;
    if (token.kind === "num") return Number(token.text);
    if (token.text === "(") {
      const value = or();
      take(")");
      return value;
    }
    if (token.text === "!") return !truthy(primary());
    if (token.kind !== "word")
      throw new Error(`unexpected "${token.text}" in expression: ${source}`);
    if (token.text === "true" || token.text === "false") return token.text === "true";
    if (token.text === "null") return null;
    if (peek()?.text === "(") {
      take("(");
      const args: Value[] = [];
      while (peek()?.text !== ")") {
        args.push(or());
        if (peek()?.text === ",") take(",");
      }
      take(")");
      if (token.text === "format") {
        const [pattern, ...rest] = args;
        return text(pattern ?? "").replace(/\{(\d+)\}/g, (_, n: string) =>
          text(rest[Number(n)] ?? ""),
        );
      }
      throw new Error(`unsupported function ${token.text}() in expression: ${source}`);
    }
    return lookup(token.text, context);
  };
  const comparison = (): Value => {
    let left = primary();
    while (peek()?.text === "==" || peek()?.text === "!=") {
      const op = take().text;
      const right = primary();
      left = op === "==" ? equal(left, right) : !equal(left, right);
    }
    return left;
  };
  const and = (): Value => {
    let left = comparison();
    while (peek()?.text === "&&") {
      take();
      const right = comparison();
      left = truthy(left) ? right : left;
    }
    return left;
  };
  const or = (): Value => {
    let left = and();
    while (peek()?.text === "||") {
      take();
      const right = and();
      left = truthy(left) ? left : right;
    }
    return left;
  };
  const value = or();
  if (pos !== tokens.length)
    throw new Error(`unexpected "${tokens[pos]!.text}" in expression: ${source}`);
  return value;
}

/** A YAML value with every `${{ … }}` replaced by its value as text, as the runner substitutes it. */
export function substitute(template: string, context: Context): string {
  return template.replace(/\$\{\{([\s\S]*?)\}\}/g, (_, expression: string) =>
    text(evaluate(expression, context)),
  );
}

/** `if:` conditions: a bare expression or one wrapped in `${{ }}`. */
export function condition(source: string | undefined, context: Context): boolean {
  if (source === undefined) return true;
  const bare = /^\s*\$\{\{([\s\S]*)\}\}\s*$/.exec(source)?.[1] ?? source;
  // Status functions: a step guarded by failure() or always() is judged separately by callers.
  const withStatus = bare.replace(/\b(success|failure|always|cancelled)\(\)/g, (_, fn: string) =>
    fn === "failure" || fn === "cancelled" ? "false" : "true",
  );
  return truthy(evaluate(withStatus, context));
}

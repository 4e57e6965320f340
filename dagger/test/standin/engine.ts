// A stand-in for the Dagger engine's GraphQL API, for tests on machines where no engine can run.
//
// It serves the session endpoint the SDK connects to when DAGGER_SESSION_PORT and
// DAGGER_SESSION_TOKEN are set, runs the module exactly as the engine's TypeScript runtime does
// (a fresh `tsx` process calling the SDK's `entrypoint` per function call), validates every query
// against the engine's schema, answers with stand-in values and records the chains the module
// built (`container.from(...).withServiceBinding(...).withExec([...])`).
//
// What this proves: the module uses the API correctly and builds the pipeline it is meant to.
// What it does not prove: that images build or tests pass inside real containers. Nothing here
// executes a container; an "evaluation" is only a recorded request.
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import {
  buildSchema,
  getNamedType,
  GraphQLError,
  isEnumType,
  isListType,
  isNonNullType,
  isObjectType,
  isAbstractType,
  isScalarType,
  Kind,
  parse,
  validate,
  valueFromASTUntyped,
  type DocumentNode,
  type FieldNode,
  type GraphQLField,
  type GraphQLOutputType,
  type GraphQLSchema,
  type SelectionSetNode,
} from "graphql";

import { prepareSdkClientCopy } from "./sdk-copy.js";

const here = dirname(fileURLToPath(import.meta.url));
/** dagger/ (the module directory) and the repository root above it. */
export const MODULE_DIR = resolve(here, "..", "..");
export const REPO_ROOT = resolve(MODULE_DIR, "..");

/** The engine schema: DAGGER_SCHEMA, else ../shared/dagger/schema-v0.21.8.graphqls next to the repository. */
export function defaultSchemaPath(): string {
  return (
    process.env.DAGGER_SCHEMA ??
    resolve(REPO_ROOT, "..", "shared", "dagger", "schema-v0.21.8.graphqls")
  );
}

/** One call in a chain: `withExec(args: [...])` on a Container. ID arguments are resolved to {@link Ref}s. */
export interface Step {
  /** The type the field was selected on (e.g. "Container"); "?" when running without the schema. */
  type: string;
  field: string;
  args: Record<string, unknown>;
}

/** An object passed by ID as an argument, with the chain that built it. */
export interface Ref {
  ref: string;
  type: string;
  chain: Step[];
}

/** A leaf the module requested (stdout, sync, publish, id, plaintext...): the chain up to it. */
export interface Evaluation {
  chain: Step[];
  /** The last step: the leaf field itself. */
  leaf: Step;
  /** Index of the query this came from in {@link CallResult.queries}. */
  query: number;
  /** What the stand-in answered. */
  value?: unknown;
}

export interface RecordedQuery {
  query: string;
  /** Schema validation errors plus stand-in errors (unknown IDs, wrong ID types); empty when valid. */
  invalid: string[];
}

/** What a responder sees; return a value to answer the leaf, or undefined to use the default. */
export type Responder = (evaluation: Evaluation) => unknown;

/** Throw from a responder to make a withExec fail the way the engine reports it (an ExecError in the SDK). */
export class StandInExecError extends Error {
  constructor(
    readonly exitCode: number,
    readonly stdout: string,
    readonly stderr: string,
    readonly cmd: string[] = [],
    // What v0.21.8 answers (core/exec_error.go, wrapped by otel's origin tracking): stdout
    // and stderr travel only in the error's extensions.
    message = `exit code: ${exitCode} [traceparent:${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}]`,
  ) {
    super(message);
  }
}

export interface CallOptions {
  /** Object the function belongs to ("Qgo"), or "" for module registration. */
  parentName: string;
  /** Function name as declared in TypeScript ("testBackend"); "" for the constructor. */
  fnName: string;
  /** The parent object's state, as returned by its constructor. */
  parent?: Record<string, unknown>;
  /** Arguments as JSON values; objects (Directory, Secret...) as IDs from this engine. */
  args?: Record<string, unknown>;
  /** Extra environment for the module process. */
  env?: Record<string, string>;
  timeoutMs?: number;
}

export interface CallResult {
  /** Decoded returnValue, when the function returned. */
  returnValue?: unknown;
  /** The message of returnError, when the function failed. */
  error?: string;
  exitCode: number | null;
  /** The module process's stdout and stderr. */
  output: string;
  queries: RecordedQuery[];
  evaluations: Evaluation[];
  /** Queries with validation errors (must stay empty). */
  invalidQueries: RecordedQuery[];
  /** Most requests the module had open at once: above 1 means it asked for things in parallel. */
  maxInFlight: number;
}

interface Entry {
  type: string;
  chain: Step[];
  data?: Record<string, unknown>;
}

interface Node {
  type: string;
  chain: Step[];
  data?: Record<string, unknown>;
}

interface CallState {
  options: CallOptions;
  queries: RecordedQuery[];
  evaluations: Evaluation[];
  returnValue?: string;
  errorRef?: Ref;
  inFlight: number;
  maxInFlight: number;
}

/**
 * Evaluates leaves for real (the executing engine, test/executor/): given a leaf the module
 * asked for, with the whole chain behind it, it returns the value the engine would return,
 * or throws {@link StandInExecError} for a failed exec. Without one, leaves are only recorded.
 */
export interface Evaluator {
  /** True for the leaves it evaluates (stdout, sync, publish, export, contents, up...). */
  evaluates(evaluation: Evaluation): boolean;
  /** The leaf's value; undefined means "answer as the recording engine does" (IDs for sync). */
  evaluate(evaluation: Evaluation, signal: AbortSignal): Promise<unknown>;
  /** The plaintext of a Secret ID (for secrets passed as arguments). */
  bindSecrets?(plaintextOf: (id: string) => string | undefined): void;
}

export interface StartOptions {
  /** Evaluates leaves for real instead of answering stand-in values. */
  evaluator?: Evaluator;
  /** Time a module process may take per call (default 60 s; real builds take minutes). */
  callTimeoutMs?: number;
  /** Module name as in dagger.json; default "qgo". */
  moduleName?: string;
  /** Module directory (holds package.json, tsconfig.json and src/); default dagger/. */
  moduleDir?: string;
  /** Schema file; default {@link defaultSchemaPath}. A missing file means no validation. */
  schemaPath?: string;
}

export class StandInEngine {
  /** True when queries are validated against the engine schema. */
  readonly validating: boolean;
  /** Every query of every call, for a global zero-invalid check. */
  readonly allQueries: RecordedQuery[] = [];

  private readonly ids = new Map<string, Entry>();
  private readonly idsByChain = new Map<string, string>();
  private readonly secrets = new Map<string, string>();
  private readonly responders: Responder[] = [];
  private readonly constructed = new Map<string, CallResult>();
  private readonly token = randomBytes(16).toString("hex");
  private current: CallState | undefined;
  private nextId = 1;
  private latencyMs = 0;
  private evaluator: Evaluator | undefined;
  private callTimeoutMs = 60_000;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly schema: GraphQLSchema | undefined,
    readonly schemaPath: string,
    readonly moduleName: string,
    readonly moduleDir: string,
    private readonly clientFile: string,
  ) {
    this.validating = schema !== undefined;
  }

  static async start(options: StartOptions = {}): Promise<StandInEngine> {
    const schemaPath = options.schemaPath ?? defaultSchemaPath();
    const moduleDir = options.moduleDir ?? MODULE_DIR;
    let schema: GraphQLSchema | undefined;
    if (existsSync(schemaPath)) {
      const { readFile } = await import("node:fs/promises");
      schema = buildSchema(await readFile(schemaPath, "utf8"));
    } else {
      console.warn(
        `stand-in engine: schema ${schemaPath} not found (set DAGGER_SCHEMA): queries are NOT validated in this run.`,
      );
    }
    const clientFile = await prepareSdkClientCopy(moduleDir);
    const holder: { engine?: StandInEngine } = {};
    const server = createServer((req, res) => {
      void holder.engine?.handle(req, res);
    });
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    const { port } = server.address() as AddressInfo;
    const engine = new StandInEngine(
      server,
      port,
      schema,
      schemaPath,
      options.moduleName ?? "qgo",
      moduleDir,
      clientFile,
    );
    engine.evaluator = options.evaluator;
    engine.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    engine.evaluator?.bindSecrets?.((id) => engine.plaintextOf(id));
    holder.engine = engine;
    return engine;
  }

  async stop(): Promise<void> {
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }

  /** A Secret as the CLI makes one from `env://NAME` (or any URI); the module may read `plaintext`. */
  secret(uri: string, plaintext: string): string {
    this.secrets.set(uri, plaintext);
    return this.register("Secret", [{ type: "Query", field: "secret", args: { uri } }], {
      plaintext,
    });
  }

  /**
   * One query from outside the module, as the CLI sends the chained part of a `dagger call`
   * (e.g. `serve up`: Service.up on the returned ID). Abort the signal to end a blocking `up`.
   */
  async request(
    query: string,
    signal?: AbortSignal,
  ): Promise<{ data?: unknown; errors?: { message: string }[] }> {
    const response = await fetch(`http://127.0.0.1:${this.port}/query`, {
      method: "POST",
      headers: {
        authorization: "Basic " + Buffer.from(this.token + ":").toString("base64"),
        "content-type": "application/json",
      },
      body: JSON.stringify({ query }),
      ...(signal ? { signal } : {}),
    });
    return (await response.json()) as { data?: unknown; errors?: { message: string }[] };
  }

  /** The value behind a Secret ID: the recorded chain names a secret, it never holds its value. */
  plaintextOf(id: string): string | undefined {
    const plaintext = this.ids.get(id)?.data?.plaintext;
    return typeof plaintext === "string" ? plaintext : undefined;
  }

  /** A Directory as the engine loads a contextual argument (defaultPath) from the caller's checkout. */
  hostDirectory(path: string, exclude: string[] = []): string {
    return this.register("Directory", [
      { type: "Query", field: "host", args: {} },
      { type: "Host", field: "directory", args: { path, exclude } },
    ]);
  }

  /** Answer leaves (stdout, publish...) with a value, or throw {@link StandInExecError}. First match wins. */
  respond(responder: Responder): void {
    this.responders.push(responder);
  }

  clearResponders(): void {
    this.responders.length = 0;
  }

  /** Delay every answer, so requests a module sends in parallel are seen overlapping. */
  setLatency(ms: number): void {
    this.latencyMs = ms;
  }

  /** The chain behind an ID this engine handed out. */
  lookup(id: string): Ref | undefined {
    const entry = this.ids.get(id);
    return entry && { ref: id, type: entry.type, chain: entry.chain };
  }

  /** Runs one function call (or registration) in a fresh module process, like the engine does. */
  async call(options: CallOptions): Promise<CallResult> {
    if (this.current) throw new Error("stand-in engine: one call at a time");
    const state: CallState = { options, queries: [], evaluations: [], inFlight: 0, maxInFlight: 0 };
    this.current = state;
    try {
      const { exitCode, output } = await this.runModule(options);
      const result: CallResult = {
        exitCode,
        output,
        queries: state.queries,
        evaluations: state.evaluations,
        invalidQueries: state.queries.filter((q) => q.invalid.length > 0),
        maxInFlight: state.maxInFlight,
      };
      if (state.returnValue !== undefined) result.returnValue = JSON.parse(state.returnValue);
      if (state.errorRef) {
        const created = state.errorRef.chain.find((step) => step.field === "error");
        const message = created?.args.message;
        result.error = typeof message === "string" ? message : "(error without message)";
      }
      return result;
    } finally {
      this.current = undefined;
    }
  }

  /**
   * What `dagger call <fn>` does: construct the main object (constructor arguments plus the
   * contextual source directory), then call the function on it.
   */
  async invoke(
    fnName: string,
    args: Record<string, unknown> = {},
    constructorArgs: Record<string, unknown> = {},
    objectName = "Qgo",
  ): Promise<CallResult & { constructed: CallResult }> {
    // The constructor's result depends only on its arguments: run it once per set of arguments.
    const key = JSON.stringify([objectName, constructorArgs]);
    let constructed = this.constructed.get(key);
    if (!constructed) {
      constructed = await this.call({ parentName: objectName, fnName: "", args: constructorArgs });
      if (constructed.error !== undefined || constructed.returnValue === undefined) {
        throw new Error(
          `constructor failed: ${constructed.error ?? "no value"}\n${constructed.output}`,
        );
      }
      this.constructed.set(key, constructed);
    }
    const parent = constructed.returnValue as Record<string, unknown>;
    const called = await this.call({ parentName: objectName, fnName, parent, args });
    return { ...called, constructed };
  }

  private async runModule(
    options: CallOptions,
  ): Promise<{ exitCode: number | null; output: string }> {
    const runner = join(here, "run-module.ts");
    const child = spawn(process.execPath, ["--import", "tsx", runner], {
      cwd: this.moduleDir,
      env: {
        ...process.env,
        ...options.env,
        DAGGER_SESSION_PORT: String(this.port),
        DAGGER_SESSION_TOKEN: this.token,
        TSX_TSCONFIG_PATH: join(this.moduleDir, "tsconfig.json"),
        QGO_STANDIN_CLIENT_FILE: this.clientFile,
        QGO_STANDIN_MODULE_SRC: join(this.moduleDir, "src"),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timeout = setTimeout(
      () => child.kill("SIGKILL"),
      options.timeoutMs ?? this.callTimeoutMs,
    );
    const exitCode = await new Promise<number | null>((ok) =>
      child.on("close", (code) => ok(code)),
    );
    clearTimeout(timeout);
    return { exitCode, output };
  }

  /** The same object (type and chain) always gets the same ID, as with the engine's content-addressed IDs. */
  private register(type: string, chain: Step[], data?: Record<string, unknown>): string {
    const key = JSON.stringify([type, chain, data ?? null]);
    const id = this.idsByChain.get(key) ?? `standin-${type}-${this.nextId++}`;
    this.idsByChain.set(key, id);
    this.ids.set(id, data ? { type, chain, data } : { type, chain });
    return id;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const expected = "Basic " + Buffer.from(this.token + ":").toString("base64");
    if (req.headers.authorization !== expected || req.method !== "POST") {
      res.writeHead(401).end();
      return;
    }
    const state = this.current;
    if (state) {
      state.inFlight += 1;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
    }
    try {
      let body = "";
      for await (const chunk of req) body += String(chunk);
      const { query, variables } = JSON.parse(body) as {
        query: string;
        variables?: Record<string, unknown>;
      };
      // A client that goes away (e.g. the test ending `Service.up`) aborts what it asked for.
      const aborted = new AbortController();
      res.on("close", () => aborted.abort());
      const reply = await this.execute(query, variables ?? {}, aborted.signal);
      if (this.latencyMs > 0) await new Promise((ok) => setTimeout(ok, this.latencyMs));
      // No keep-alive: a module process that pauses (the SDK's scan takes seconds) must not
      // reuse a socket the server is just closing ("socket hang up").
      res
        .writeHead(200, { "content-type": "application/json", connection: "close" })
        .end(JSON.stringify(reply));
    } finally {
      if (state) state.inFlight -= 1;
    }
  }

  private async execute(
    query: string,
    variables: Record<string, unknown>,
    signal: AbortSignal,
  ): Promise<unknown> {
    const recorded: RecordedQuery = { query, invalid: [] };
    const state = this.current;
    const queryIndex = state ? state.queries.length : -1;
    state?.queries.push(recorded);
    this.allQueries.push(recorded);
    let document: DocumentNode;
    try {
      document = parse(query);
    } catch (error) {
      recorded.invalid.push(`syntax: ${(error as Error).message}`);
      return { errors: [{ message: (error as Error).message }] };
    }
    if (this.schema) {
      for (const error of validate(this.schema, document)) recorded.invalid.push(error.message);
      if (recorded.invalid.length > 0) {
        return { errors: recorded.invalid.map((message) => ({ message })) };
      }
    }
    const operation = document.definitions.find((d) => d.kind === Kind.OPERATION_DEFINITION);
    if (!operation || operation.kind !== Kind.OPERATION_DEFINITION) {
      recorded.invalid.push("no operation");
      return { errors: [{ message: "no operation" }] };
    }
    try {
      const data = await this.selectAll(
        { type: "Query", chain: [] },
        operation.selectionSet,
        variables,
        { recorded, queryIndex, signal },
      );
      return { data };
    } catch (error) {
      if (error instanceof StandInExecError) {
        return {
          data: null,
          errors: [
            {
              message: error.message,
              extensions: {
                _type: "EXEC_ERROR",
                exitCode: error.exitCode,
                stdout: error.stdout,
                stderr: error.stderr,
                cmd: error.cmd,
              },
            },
          ],
        };
      }
      const message = (error as Error).message;
      if (error instanceof GraphQLError || error instanceof InvalidQuery)
        recorded.invalid.push(message);
      return { data: null, errors: [{ message }] };
    }
  }

  private async selectAll(
    node: Node,
    selectionSet: SelectionSetNode,
    variables: Record<string, unknown>,
    ctx: QueryContext,
  ): Promise<Record<string, unknown>> {
    const out: Record<string, unknown> = {};
    for (const selection of selectionSet.selections) {
      if (selection.kind === Kind.FIELD) {
        out[selection.alias?.value ?? selection.name.value] = await this.resolveField(
          node,
          selection,
          variables,
          ctx,
        );
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        const on = selection.typeCondition?.name.value;
        if (on === undefined || on === node.type || !this.schema) {
          Object.assign(
            out,
            await this.selectAll(
              on ? { ...node, type: on } : node,
              selection.selectionSet,
              variables,
              ctx,
            ),
          );
        }
      } else {
        throw new InvalidQuery("named fragments are not used by the SDK");
      }
    }
    return out;
  }

  private async resolveField(
    parent: Node,
    field: FieldNode,
    variables: Record<string, unknown>,
    ctx: QueryContext,
  ): Promise<unknown> {
    const name = field.name.value;
    if (name === "__typename") return parent.type;
    const definition = this.fieldDefinition(parent.type, name);
    const rawArgs: Record<string, unknown> = {};
    for (const arg of field.arguments ?? [])
      rawArgs[arg.name.value] = valueFromASTUntyped(arg.value, variables);
    const args = this.resolveArgs(parent.type, name, rawArgs, definition);
    // A secret's value stays out of the chain (the engine identifies setSecret by its name).
    let secretValue: unknown;
    if (parent.type === "Query" && name === "setSecret") {
      secretValue = args.plaintext;
      args.plaintext = REDACTED;
    }
    const step: Step = { type: parent.type, field: name, args };
    const chain = [...parent.chain, step];

    // Objects: keep walking the chain.
    if (field.selectionSet) {
      const value = this.objectValue(parent, step, chain, definition, secretValue);
      if (value === null) return null;
      if (Array.isArray(value))
        return Promise.all(
          value.map((item: Node) => this.selectAll(item, field.selectionSet!, variables, ctx)),
        );
      return this.selectAll(value, field.selectionSet, variables, ctx);
    }

    // Leaves: record the evaluation, then answer.
    const evaluation: Evaluation = { chain, leaf: step, query: ctx.queryIndex };
    this.current?.evaluations.push(evaluation);
    evaluation.value = await this.leafValue(parent, step, evaluation, definition, ctx.signal);
    return evaluation.value;
  }

  private objectValue(
    parent: Node,
    step: Step,
    chain: Step[],
    definition: GraphQLField<unknown, unknown> | undefined,
    secretValue: unknown,
  ): Node | Node[] | null {
    const call = this.current?.options;
    if (parent.type === "Query" && step.field === "node") {
      const entry = this.ids.get(refId(step.args.id));
      if (!entry) throw new InvalidQuery(`node(id:) with an ID this engine never issued`);
      return { type: entry.type, chain: entry.chain, ...(entry.data ? { data: entry.data } : {}) };
    }
    if (parent.type === "FunctionCall" && step.field === "inputArgs") {
      return Object.entries(call?.args ?? {}).map(([argName, value]) => ({
        type: "FunctionCallArgValue",
        chain,
        data: { name: argName, value: JSON.stringify(value) },
      }));
    }
    let type = typeWithoutSchema(parent.type, step.field);
    if (definition) {
      const named = getNamedType(definition.type);
      type = named.name;
      if (isListType(unwrapNonNull(definition.type))) return [];
    }
    if (parent.type === "Query" && step.field === "setSecret") {
      return { type, chain, data: { plaintext: secretValue } };
    }
    if (parent.type === "Query" && step.field === "secret") {
      const plaintext = this.secrets.get(String(step.args.uri));
      return plaintext === undefined ? { type, chain } : { type, chain, data: { plaintext } };
    }
    return { type, chain };
  }

  private async leafValue(
    parent: Node,
    step: Step,
    evaluation: Evaluation,
    definition: GraphQLField<unknown, unknown> | undefined,
    signal: AbortSignal,
  ): Promise<unknown> {
    const call = this.current?.options;
    const state = this.current;
    // The function-call protocol.
    if (parent.type === "FunctionCall") {
      switch (step.field) {
        case "name":
          return call?.fnName ?? "";
        case "parentName":
          return call?.parentName ?? "";
        case "parent":
          return JSON.stringify(call?.parent ?? {});
        case "returnValue":
          if (state) state.returnValue = String(step.args.value);
          return null;
        case "returnError": {
          const error = step.args.error;
          if (state && isRef(error)) state.errorRef = error;
          return null;
        }
      }
    }
    if (
      parent.type === "FunctionCallArgValue" &&
      (step.field === "name" || step.field === "value")
    ) {
      return parent.data?.[step.field];
    }
    if (parent.type === "CurrentModule" && step.field === "name") return this.moduleName;
    if (step.field === "plaintext") {
      const plaintext = parent.data?.plaintext;
      if (typeof plaintext !== "string")
        throw new InvalidQuery("plaintext of a secret the test never registered");
      return plaintext;
    }

    for (const responder of this.responders) {
      const answer = responder(evaluation);
      if (answer !== undefined) return answer;
    }
    if (this.evaluator?.evaluates(evaluation)) {
      const answer = await this.evaluator.evaluate(evaluation, signal);
      // `sync` and friends answer with the object's own ID, as below.
      if (answer !== undefined) return answer;
    }

    const type = definition ? getNamedType(definition.type) : undefined;
    const isId = type ? type.name === "ID" : ["id", "sync", "start", "stop"].includes(step.field);
    if (isId) {
      // `id`/`sync` name the object itself; other ID-returning fields name what they made.
      const expected = definition?.astNode?.directives
        ?.find((d) => d.name.value === "expectedType")
        ?.arguments?.find((a) => a.name.value === "name");
      const idType =
        expected && expected.value.kind === Kind.STRING ? expected.value.value : parent.type;
      const keep = step.field === "id" || step.field === "sync" ? parent.chain : evaluation.chain;
      return this.register(idType === "Syncer" ? parent.type : idType, keep, parent.data);
    }
    if (parent.type === "Container" && step.field === "publish") {
      // Same image content, same digest, whatever the tag or credentials.
      const image = parent.chain.filter((s) => s.field !== "withRegistryAuth");
      const digest = createHash("sha256").update(JSON.stringify(image)).digest("hex");
      return `${String(step.args.address)}@sha256:${digest}`;
    }
    if (!type) return "";
    if (isEnumType(type)) return type.getValues()[0]?.name ?? null;
    if (isScalarType(type)) {
      switch (type.name) {
        case "String":
          return "";
        case "Int":
        case "Float":
          return 0;
        case "Boolean":
          return false;
        case "Void":
          return null;
        case "JSON":
          return "null";
        case "Platform":
          return "linux/amd64";
        default:
          return "";
      }
    }
    return null;
  }

  private fieldDefinition(
    typeName: string,
    field: string,
  ): GraphQLField<unknown, unknown> | undefined {
    if (!this.schema) return undefined;
    const type = this.schema.getType(typeName);
    if (!type || !(isObjectType(type) || isAbstractType(type)) || !("getFields" in type))
      return undefined;
    return type.getFields()[field];
  }

  /** Replaces IDs by the chains behind them; checks ID arguments against their @expectedType. */
  private resolveArgs(
    parentType: string,
    fieldName: string,
    raw: Record<string, unknown>,
    definition: GraphQLField<unknown, unknown> | undefined,
  ): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [name, value] of Object.entries(raw)) {
      const argDef = definition?.args.find((a) => a.name === name);
      const isIdArg = argDef ? getNamedType(argDef.type).name === "ID" : undefined;
      const expected = argDef?.astNode?.directives
        ?.find((d) => d.name.value === "expectedType")
        ?.arguments?.find((a) => a.name.value === "name");
      const expectedType =
        expected && expected.value.kind === Kind.STRING ? expected.value.value : undefined;
      const resolveOne = (item: unknown): unknown => {
        if (typeof item !== "string") return item;
        const entry = this.ids.get(item);
        if (!entry) {
          if (isIdArg)
            throw new InvalidQuery(
              `${parentType}.${fieldName}(${name}:) got an ID this engine never issued`,
            );
          return item;
        }
        if (isIdArg && expectedType && !this.isA(entry.type, expectedType)) {
          throw new InvalidQuery(
            `${parentType}.${fieldName}(${name}:) expects a ${expectedType} ID but got a ${entry.type} ID`,
          );
        }
        return { ref: item, type: entry.type, chain: entry.chain } satisfies Ref;
      };
      out[name] = Array.isArray(value) ? value.map(resolveOne) : resolveOne(value);
    }
    return out;
  }

  private isA(actual: string, expected: string): boolean {
    if (actual === expected || actual === "?") return true;
    const type = this.schema?.getType(actual);
    return isObjectType(type) && type.getInterfaces().some((i) => i.name === expected);
  }
}

class InvalidQuery extends Error {}

/** What a recorded chain shows instead of a secret's value. */
export const REDACTED = "***";

interface QueryContext {
  recorded: RecordedQuery;
  queryIndex: number;
  /** Aborted when the client closes the request (a `Service.up` the test ends). */
  signal: AbortSignal;
}

function unwrapNonNull(type: GraphQLOutputType): GraphQLOutputType {
  return isNonNullType(type) ? type.ofType : type;
}

/** Without the schema, the type a field returns is inferred from the API's naming conventions. */
function typeWithoutSchema(parentType: string, field: string): string {
  const known: Record<string, string> = {
    currentFunctionCall: "FunctionCall",
    currentModule: "CurrentModule",
    setSecret: "Secret",
    from: "Container",
    dockerBuild: "Container",
    asService: "Service",
    asTarball: "File",
    function: "Function",
    module: "Module",
  };
  if (known[field]) return known[field];
  if (/^with|^without/.test(field)) return parentType;
  return field.charAt(0).toUpperCase() + field.slice(1);
}

export function isRef(value: unknown): value is Ref {
  return typeof value === "object" && value !== null && "ref" in value && "chain" in value;
}

function refId(value: unknown): string {
  return isRef(value) ? value.ref : String(value);
}

// The `pipeline` suite's set-up: the module's functions called through the SDK's entrypoint,
// exactly as `dagger call` invokes them, on the executing engine (test/executor/) over the
// VPS-in-a-box's Docker engine. One engine and executor per test file; identical chains are
// evaluated once within it.
import { Executor, type ImageTable } from "../executor/executor.js";
import { REPO_ROOT, StandInEngine, type CallResult } from "../standin/engine.js";
import { scanModule } from "../standin/introspect.js";
import type { VpsBox } from "../vps/box.js";
import { ensureTestCa } from "../vps/test-ca.js";
import { startSlackStandIn, type SlackStandIn } from "./slack-standin.js";

/**
 * The only substitution: the module's default base images -> the box's images (its Node image
 * is Debian bookworm with Node 22, so it stands in for both Node images).
 */
export function imageTable(box: VpsBox): ImageTable {
  return {
    "node:22-alpine": box.baseImages.node,
    "node:22-bookworm-slim": box.baseImages.node,
    "mysql:8.4": box.baseImages.db,
    "nginx:1.27-alpine": box.baseImages.nginx,
  };
}

export function printImageTable(table: ImageTable): void {
  console.log("image table (the module's base image -> the box's image):");
  for (const [name, box] of Object.entries(table)) console.log(`  ${name} -> ${box}`);
}

export interface Pipeline {
  engine: StandInEngine;
  executor: Executor;
  slack: SlackStandIn;
  /** `dagger call <fn> --args`: the constructor with the checkout as source, then the function. */
  call(fn: string, args?: Record<string, unknown>): Promise<CallResult & { seconds: number }>;
  /**
   * What the CLI does with the rest of a chained `dagger call` (`backend-image export --path x`,
   * `serve up --ports 8080:80`): one query on the returned object. Abort to end a blocking `up`.
   */
  chained(
    id: string,
    type: string,
    selection: string,
    signal?: AbortSignal,
  ): Promise<Record<string, unknown>>;
  /** The same with another checkout as `source` (e.g. a deliberately broken copy). */
  callWithSource(
    dir: string,
    fn: string,
    args?: Record<string, unknown>,
  ): Promise<CallResult & { seconds: number }>;
  /** Each call's duration, in call order. */
  durations: { fn: string; seconds: number }[];
  /** Prints each function's duration and the total against `budgetSeconds`; returns the total. */
  report(budgetSeconds: number): number;
  stop(): Promise<void>;
}

export async function startPipeline(box: VpsBox): Promise<Pipeline> {
  const slack = await startSlackStandIn(box.cacheDir);
  // notify posts from the module process, which trusts the box's test CA as a company machine
  // trusts its company's CA (the real runtime container trusts Slack's public CA).
  process.env.NODE_EXTRA_CA_CERTS = ensureTestCa(box.cacheDir).caFile;
  const table = imageTable(box);
  printImageTable(table);
  const executor = await Executor.start({
    dockerHost: box.dockerHost,
    dockerConfigDir: box.dockerConfigDir,
    images: table,
    log: (line) => console.log(`  [executor] ${line}`),
  });
  const engine = await StandInEngine.start({ evaluator: executor, callTimeoutMs: 40 * 60_000 });
  // What the engine loads for the contextual `source` argument: the checkout, minus `ignore`.
  const scanned = await scanModule();
  const ignore = scanned.objects.Qgo?.constructor.arguments.source?.ignore ?? [];
  const durations: Pipeline["durations"] = [];
  const call = async (dir: string, fn: string, args: Record<string, unknown> = {}) => {
    const source = engine.hostDirectory(dir, ignore);
    const started = Date.now();
    const result = await engine.invoke(fn, args, { source });
    const seconds = (Date.now() - started) / 1000;
    durations.push({ fn, seconds });
    console.log(
      `dagger call ${fn}: ${seconds.toFixed(1)} s${result.error ? ` (failed: ${result.error.split("\n")[0]})` : ""}`,
    );
    return { ...result, seconds };
  };
  return {
    engine,
    executor,
    slack,
    call: (fn, args) => call(REPO_ROOT, fn, args),
    async chained(id, type, selection, signal) {
      const reply = await engine.request(
        `{ node(id: ${JSON.stringify(id)}) { ... on ${type} { ${selection} } } }`,
        signal,
      );
      if (reply.errors?.length) throw new Error(reply.errors.map((e) => e.message).join("\n"));
      return (reply.data as { node: Record<string, unknown> }).node;
    },
    callWithSource: call,
    durations,
    report(budgetSeconds) {
      const total = durations.reduce((sum, d) => sum + d.seconds, 0);
      console.log("pipeline: seconds per `dagger call`");
      for (const d of durations) console.log(`  dagger call ${d.fn}: ${d.seconds.toFixed(1)} s`);
      console.log(`  total ${total.toFixed(1)} s of a ${budgetSeconds} s budget`);
      return total;
    },
    async stop() {
      await engine.stop();
      await executor.stop();
      await slack.stop();
    },
  };
}

/**
 * The suite's one run (pipeline.test.ts sets it up): one engine and executor for every part,
 * so later parts find what earlier ones evaluated, as one engine's cache would.
 */
export const ctx = {
  pipeline: undefined as unknown as Pipeline,
  /** Where exports go. */
  out: "",
  /** Dirs removed at the end (broken copies of the checkout). */
  scratch: [] as string[],
};

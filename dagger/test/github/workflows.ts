// The repository's GitHub workflows as data, the runner's view of a step's environment, and the
// values a workflow *means* to pass: each `--flag` of a dagger step's `args` with its value
// read as its author intended (quotes removed, "$NAME" from the step's environment, `${{ }}`
// evaluated), before any tool had a chance to mangle it.
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

import { parse } from "yaml";

import { REPO_ROOT } from "../standin/engine.js";
import { substitute, type Context } from "./expressions.js";

/** QGO_WORKFLOWS_DIR points the tests at other workflow files, e.g. an older commit's, to show what they catch. */
export const WORKFLOWS_DIR =
  process.env.QGO_WORKFLOWS_DIR ?? join(REPO_ROOT, ".github", "workflows");

export interface Step {
  id?: string;
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  env?: Record<string, string>;
  with?: Record<string, string>;
}
export interface Job {
  name?: string;
  if?: string;
  needs?: string | string[];
  uses?: string;
  with?: Record<string, string>;
  secrets?: string;
  environment?: string;
  "timeout-minutes"?: number;
  concurrency?: { group?: string; "cancel-in-progress"?: boolean };
  env?: Record<string, string>;
  outputs?: Record<string, string>;
  permissions?: Record<string, string>;
  steps?: Step[];
}
export interface Workflow {
  name?: string;
  on: Record<
    string,
    { inputs?: Record<string, { type?: string; options?: string[]; default?: string }> } | null
  >;
  env?: Record<string, string>;
  concurrency?: { group?: string; "cancel-in-progress"?: boolean };
  jobs: Record<string, Job>;
}

export function loadWorkflows(dir = WORKFLOWS_DIR): Map<string, Workflow> {
  return new Map(
    readdirSync(dir)
      .filter((name) => /\.ya?ml$/.test(name))
      .map((name) => [name, parse(readFileSync(join(dir, name), "utf8")) as Workflow]),
  );
}

/** Variables the runner sets for every step (the subset our workflows read). */
export function defaultEnv(github: Record<string, string>): Record<string, string> {
  return {
    HOME: process.env.HOME ?? "/root",
    GITHUB_SHA: github.sha!,
    GITHUB_ACTOR: github.actor!,
    GITHUB_REPOSITORY: github.repository!,
    GITHUB_SERVER_URL: github.server_url!,
    GITHUB_RUN_ID: github.run_id!,
    GITHUB_REF: github.ref!,
    GITHUB_REF_NAME: github.ref_name!,
    GITHUB_EVENT_NAME: github.event_name!,
    GITHUB_STEP_SUMMARY: "/home/runner/work/_temp/_runner_file_commands/step_summary_0f6b",
  };
}

/** The environment a step runs with: defaults, then the workflow's, job's and step's `env:`, each evaluated. */
export function stepEnv(
  workflow: Workflow,
  job: Job,
  step: Step,
  context: Context,
): Record<string, string> {
  const env = defaultEnv(context.github as Record<string, string>);
  for (const layer of [workflow.env, job.env, step.env]) {
    for (const [name, value] of Object.entries(layer ?? {})) {
      env[name] = substitute(String(value), { ...context, env: { ...env } });
    }
  }
  return env;
}

/**
 * Splits a step's `args` text into words the way its author reads it: whitespace outside quotes
 * and outside `${{ }}` separates words; then each word's quotes are removed, "$NAME" and $NAME
 * are taken from the step's environment, and `${{ }}` is evaluated, all without any mangling.
 */
export function intendedWords(
  args: string,
  env: Record<string, string>,
  context: Context,
): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < args.length) {
    while (i < args.length && /\s/.test(args[i]!)) i++;
    if (i >= args.length) break;
    let word = "";
    let quote: string | null = null;
    while (i < args.length && (quote !== null || !/\s/.test(args[i]!))) {
      if (args.startsWith("${{", i)) {
        const end = args.indexOf("}}", i);
        word += String(substitute(args.slice(i, end + 2), context));
        i = end + 2;
        continue;
      }
      const c = args[i]!;
      if (quote === null && (c === '"' || c === "'")) quote = c;
      else if (c === quote) quote = null;
      else if (c === "$" && quote !== "'") {
        const name = /^\$(?:\{(\w+)\}|(\w+))/.exec(args.slice(i));
        if (name) {
          word += env[name[1] ?? name[2]!] ?? "";
          i += name[0].length;
          continue;
        }
        word += c;
      } else word += c;
      i++;
    }
    words.push(word);
  }
  return words;
}

// An operation (deploy, rollback) is written once, as a list of steps: the run executes it in
// order, --dry-run prints it, and the report's step names come from what it ran, so the plan,
// the run and the tests that iterate over it cannot drift apart.
import type { RemoteCommand } from "./commands/index.js";
import type { CommandResult } from "./executor.js";
import { RemoteCommandError } from "./executor.js";
import type { OperationReport, Session } from "./operation.js";

/** The names of a state's boolean fields: what a step marks as "a rollback must undo this". */
type Flag<S> = { [K in keyof S]: S[K] extends boolean ? K : never }[keyof S];

export interface Step<S> {
  /** The step's command, built when it runs: what earlier steps learnt is in the state. */
  command: (state: S) => RemoteCommand;
  /** Runs only when this holds; the plan prints the label beside the step. */
  when?: { label: string; holds: (state: S) => boolean };
  /** Takes what the step printed into the state (and may read more from the server). */
  read?: (result: CommandResult, state: S) => Promise<void> | void;
  /** The step reads its own exit code (in `read`) instead of failing on a non-zero one. */
  ownsExitCode?: boolean;
  /** Set in the state just before the step runs: from here on a rollback must undo it. */
  marks?: Flag<S>;
}

/** A line of a printed plan: a command and, for a conditional one, when it runs. */
export interface PlannedStep {
  when: string;
  command: RemoteCommand;
}

export async function runSteps<S>(session: Session, steps: Step<S>[], state: S): Promise<void> {
  for (const step of steps) {
    if (step.when && !step.when.holds(state)) continue;
    if (step.marks) (state[step.marks] as boolean) = true;
    const result = await session.run(step.command(state), step.ownsExitCode);
    await step.read?.(result, state);
  }
}

/** The steps as the plan prints them, built from a state that holds placeholders. */
export function planned<S>(steps: Step<S>[], state: S): PlannedStep[] {
  return steps.map((step) => ({ when: step.when?.label ?? "", command: step.command(state) }));
}

/** The leftovers step's read: what it waited for becomes a note of the operation. */
export function noteLeftovers(session: Session): Step<unknown>["read"] {
  return ({ stdout }) => {
    const waited = stdout.split("\n").filter((line) => /^(process|container) /.test(line));
    if (waited.length > 0)
      session.note(
        `Before it started, it waited for what an interrupted operation had left running: ${waited.join("; ")}.`,
      );
  };
}

/** Fails a step that owns its exit code and got one it does not expect. */
export function unexpectedExit(result: CommandResult, step: string): RemoteCommandError {
  return new RemoteCommandError(step, result.exitCode, result.stdout, result.stderr);
}

export function renderPlan(steps: PlannedStep[]): string {
  return steps
    .map(({ when, command }) => {
      const stdin =
        command.stdin !== undefined
          ? `\n# stdin: ${command.stdin.length} secret bytes (not shown)`
          : "";
      return `### ${command.step}${when ? ` (${when})` : ""}: ${command.description}${stdin}\n${command.script}`;
    })
    .join("\n");
}

/** The report of a dry run: the plan, logged and returned; nothing was changed. */
export function dryRunReport(
  session: Session,
  heading: string,
  plan: PlannedStep[],
  extra: Partial<OperationReport> = {},
): OperationReport {
  const text = renderPlan(plan);
  session.log(`DRY RUN: ${heading}; nothing will be changed. Plan:`);
  for (const line of text.split("\n")) session.log(line);
  return session.report(
    true,
    `dry run: ${plan.length} steps planned for ${session.env.name}, nothing changed`,
    { plan: text, ...extra },
  );
}

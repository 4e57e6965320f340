// An operation (deploy, rollback) is written once, as a list of steps: the run executes it in
// order, --dry-run prints it, and the report's step names come from what it ran, so the plan,
// the run and the tests that iterate over it cannot drift apart.
import {
  awaitLeftovers,
  inOneTrip,
  retireOld,
  shown,
  type RemoteCommand,
} from "./commands/index.js";
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
  /**
   * In a group: when `holds` is true once the group's other steps are read, this step is not
   * waited for; it goes on beside the later steps (its own channel) and is read just before
   * step `until` (Beside).
   */
  beside?: { label: string; holds: (state: S) => boolean; until: string };
}

/**
 * The steps left running beside the later ones, shared by an operation's lists of steps. Each
 * is read before the step it names; on a failure the operation settles them (waits, no read),
 * so nothing of it still runs when a rollback starts.
 */
export class Beside<S> {
  private running: { step: Step<S>; name: string; until: string; run: Promise<CommandResult> }[] =
    [];

  get size(): number {
    return this.running.length;
  }

  add(step: Step<S>, name: string, until: string, run: Promise<CommandResult>): void {
    this.running.push({ step, name, until, run });
  }

  /** Reads (in order) those to be read before one of `names`. */
  async readBefore(names: string[], state: S): Promise<void> {
    const due = this.running.filter((b) => names.includes(b.until));
    this.running = this.running.filter((b) => !due.includes(b));
    for (const b of due) {
      try {
        const result = await b.run;
        await b.step.read?.(result, state);
      } catch (error) {
        await this.settle();
        if (typeof error === "object" && error !== null && !failedIn.has(error))
          failedIn.set(error, b.name);
        throw error;
      }
    }
  }

  /** Waits for all and reads what they found, for the record of a failure: no read throws. */
  async readRest(state: S): Promise<void> {
    const left = this.running;
    this.running = [];
    for (const b of left)
      await Promise.resolve(b.run.then((result) => b.step.read?.(result, state))).catch(
        () => undefined,
      );
  }

  /** Waits until none runs any more; each can still be read afterwards (readRest). */
  async wait(): Promise<void> {
    await Promise.allSettled(this.running.map((b) => b.run));
  }

  /** Waits until none runs any more, reading nothing. */
  async settle(): Promise<void> {
    const left = this.running;
    this.running = [];
    await Promise.allSettled(left.map((b) => b.run));
  }
}

/**
 * What a dry run cannot know yet (the server's release ids, an image's version, the time). The
 * builders accept only well-formed values, so the plan is built from well-formed stand-ins and
 * the printed text names them for what they stand for.
 */
const STAND_INS = {
  currentRelease: ["r00000000_000000_00000c", "<current release id>"],
  previousRelease: ["r00000000_000000_00000b", "<previous release id>"],
  backupRelease: ["r00000000_000000_00000a", "<release kept in the backup>"],
  imageVersion: ["PLAN.image-version", "<version label of the backend image>"],
  previousVersion: ["PLAN.previous-version", "<previous release's version>"],
  restoredVersion: ["PLAN.restored-version", "<restored release's version>"],
  now: ["1970-01-01T00:00:00.000Z", "<now>"],
} as const;

/** Stand-ins for the unknowns of a dry run's plan (see STAND_INS). */
export const unknown = Object.fromEntries(
  Object.entries(STAND_INS).map(([key, [value]]) => [key, value]),
) as { [K in keyof typeof STAND_INS]: (typeof STAND_INS)[K][0] };

function named(text: string): string {
  let result = text;
  for (const [value, label] of Object.values(STAND_INS)) result = result.split(value).join(label);
  return result;
}

/** A line of a printed plan: a command and, for a conditional one, when it runs. */
export interface PlannedStep {
  when: string;
  command: RemoteCommand;
}

/** The step each failure of runSteps happened in (a read's own errors carry no step name). */
const failedIn = new WeakMap<object, string>();

/** Steps that run at the same time (over one connection, each in its own channel). */
export interface Together<S> {
  together: Step<S>[];
}

export type RunbookEntry<S> = Step<S> | Together<S>;

const stepsOf = <S>(entry: RunbookEntry<S>): Step<S>[] =>
  "together" in entry ? entry.together : [entry];

/** The step names of an entry (a skipped step's command may not build: it has no name then). */
function namesOf<S>(entry: RunbookEntry<S>, state: S): string[] {
  return stepsOf(entry).flatMap((step) => {
    try {
      return [step.command(state).step];
    } catch {
      return [];
    }
  });
}

export async function runSteps<S>(
  session: Session,
  entries: RunbookEntry<S>[],
  state: S,
  beside: Beside<S> = new Beside(),
): Promise<void> {
  for (const entry of entries) {
    // What runs beside and is due before this entry is read first, even if it is skipped.
    if (beside.size > 0) await beside.readBefore(namesOf(entry, state), state);
    const steps = stepsOf(entry).filter((step) => !step.when || step.when.holds(state));
    for (const step of steps) if (step.marks) (state[step.marks] as boolean) = true;
    const built = steps.map((step) => step.command(state));
    const together = built.length > 1 ? built.map((command) => command.step) : undefined;
    const commands = built.map((command) =>
      together ? { ...command, journalSteps: together } : command,
    );
    const runs = commands.map((command, i) => session.run(command, steps[i]!.ownsExitCode));
    // Each is awaited in turn below: a rejection before its turn must not count as unhandled.
    for (const run of runs) run.catch(() => undefined);
    // Every step of a group ends before a failure is reported, so nothing of it still runs
    // when a rollback starts; the reads then go in the runbook's order. A step that may go on
    // beside the later ones is waited for after the others were read, if it must be.
    const order = [...steps.keys()].sort(
      (a, b) => Number(Boolean(steps[a]!.beside)) - Number(Boolean(steps[b]!.beside)),
    );
    for (const i of order) {
      const step = steps[i]!;
      if (step.beside?.holds(state)) {
        beside.add(step, commands[i]!.step, step.beside.until, runs[i]!);
        continue;
      }
      try {
        // (Awaited apart: `read?.(await …)` would skip the wait when the step has no read.)
        const result = await runs[i]!;
        await step.read?.(result, state);
      } catch (error) {
        await Promise.allSettled(runs);
        await beside.wait();
        if (typeof error === "object" && error !== null && !failedIn.has(error))
          failedIn.set(error, commands[i]!.step);
        throw error;
      }
    }
  }
}

/** The step a failure happened in: a remote command's, or the step whose read failed. */
export function failedStepOf(error: unknown, otherwise: string): string {
  if (error instanceof RemoteCommandError) return error.step;
  return (typeof error === "object" && error !== null && failedIn.get(error)) || otherwise;
}

/** The steps as the plan prints them, built from a state that holds placeholders. */
export function planned<S>(entries: RunbookEntry<S>[], state: S): PlannedStep[] {
  return entries.flatMap((entry) => {
    const steps = stepsOf(entry);
    return steps.map((step) => {
      const others = steps.filter((other) => other !== step).map((o) => o.command(state).step);
      const when = [
        step.when?.label ?? "",
        others.length > 0 ? `at the same time as ${others.join(", ")}` : "",
        step.beside?.label ?? "",
      ];
      return { when: when.filter(Boolean).join("; "), command: step.command(state) };
    });
  });
}

/**
 * `step` preceded, in the same round trip, by the wait for what an interrupted operation left
 * running (awaitLeftovers): nothing it left may write while this operation works.
 */
export function afterLeftovers<S>(session: Session, step: Step<S>): Step<S> {
  return {
    ...step,
    command: (state) => {
      const command = step.command(state);
      return inOneTrip(command.step, [awaitLeftovers(session.env, session.id), command]);
    },
    read: async (result, state) => {
      await noteLeftovers(session)?.(result, state);
      await step.read?.(result, state);
    },
  };
}

/**
 * The retire, last step of a deploy or a rollback: a non-zero exit (the step failed or was
 * killed on the server) is a note, never a rollback. The edge already serves the release that
 * passed its checks; a rollback now would route back to containers retire may have stopped.
 * What retire did not stop runs on beside it until the next start removes it; only connections
 * opened before the switch (held by the edge's old workers) still reach it.
 */
export function retireStep<S>(session: Session, when?: Step<S>["when"]): Step<S> {
  return {
    command: () => retireOld(session.env),
    ...(when ? { when } : {}),
    ownsExitCode: true,
    read: ({ exitCode, stderr }) => {
      if (exitCode === 0) return;
      const said = stderr.trim().split("\n").slice(-3).join(" ");
      session.note(
        `Step retire did not complete (exit ${exitCode}${said ? `: ${shown(said)}` : ""}): containers of the release before may still run beside the one now served. ` +
          "New connections reach only the release now served, which is healthy; connections opened before the switch may reach the old containers until they close. " +
          "Nothing was rolled back; the next deploy or rollback removes them.",
      );
    },
  };
}

/** The leftovers step's read: what it waited for becomes a note of the operation. */
export function noteLeftovers(session: Session): Step<unknown>["read"] {
  return ({ stdout }) => {
    const lines = stdout.split("\n");
    const waited = lines.filter((line) => /^(process|container) /.test(line));
    if (waited.length > 0)
      session.note(
        `Before it started, it waited for what an interrupted operation had left running: ${waited.join("; ")}.`,
      );
    const copies = lines.filter((line) => /^removed copy /.test(line));
    if (copies.length > 0)
      session.note(
        `It removed the throwaway database copy an interrupted operation had left: ${copies.join("; ")}.`,
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
      return named(
        `### ${command.step}${when ? ` (${when})` : ""}: ${command.description}${stdin}\n${command.script}`,
      );
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

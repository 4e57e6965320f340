// Helpers to read the chains the stand-in engine recorded.
import { isRef, type CallResult, type Evaluation, type Ref, type Step } from "./engine.js";

export { isRef };

/** `container.from(address: "mysql:8.4").withExposedPort(port: 3306)`: IDs shown as <Type>. */
export function render(chain: Step[]): string {
  return chain
    .map((step) => {
      const args = Object.entries(step.args)
        .map(([name, value]) => `${name}: ${renderValue(value)}`)
        .join(", ");
      return args === "" ? step.field : `${step.field}(${args})`;
    })
    .join(".");
}

function renderValue(value: unknown): string {
  if (isRef(value)) return `<${value.type}>`;
  if (Array.isArray(value)) return `[${value.map(renderValue).join(", ")}]`;
  return JSON.stringify(value);
}

/** Steps of a chain that call `field`, in order. */
export function stepsNamed(chain: Step[], field: string): Step[] {
  return chain.filter((step) => step.field === field);
}

/** Index of the first step matching the predicate, -1 if none. */
export function indexOf(chain: Step[], predicate: (step: Step) => boolean): number {
  return chain.findIndex(predicate);
}

/** The argument lists of every withExec in the chain, in order. */
export function execs(chain: Step[]): string[][] {
  return stepsNamed(chain, "withExec").map((step) => step.args.args as string[]);
}

/** Evaluations whose leaf is `field` (stdout, sync, publish...). */
export function evaluated(result: CallResult, field: string): Evaluation[] {
  return result.evaluations.filter((evaluation) => evaluation.leaf.field === field);
}

/** The one evaluation whose chain runs an exec with exactly these arguments. */
export function evaluationRunning(
  result: CallResult,
  field: string,
  command: string[],
): Evaluation {
  const found = evaluated(result, field).filter((evaluation) =>
    execs(evaluation.chain).some((args) => JSON.stringify(args) === JSON.stringify(command)),
  );
  if (found.length !== 1) {
    throw new Error(
      `expected one ${field} evaluation running ${JSON.stringify(command)}, found ${found.length}`,
    );
  }
  return found[0]!;
}

/** The argument as a Ref (an object passed by ID); fails when it is not one. */
export function refArg(step: Step | undefined, name: string): Ref {
  const value = step?.args[name];
  if (!isRef(value))
    throw new Error(`argument ${name} of ${step?.field ?? "(no step)"} is not an object ID`);
  return value;
}

/** Every string anywhere in the chain's arguments, nested chains included. */
export function stringsIn(chain: Step[]): string[] {
  const out: string[] = [];
  const visit = (value: unknown): void => {
    if (typeof value === "string") out.push(value);
    else if (isRef(value)) value.chain.forEach((step) => visit(step.args));
    else if (Array.isArray(value)) value.forEach(visit);
    else if (typeof value === "object" && value !== null) Object.values(value).forEach(visit);
  };
  chain.forEach((step) => visit(step.args));
  return out;
}

/** Every exec argument and plain environment value in a chain, nested chains included. */
export function plainValues(chain: Step[]): string[] {
  const out: string[] = [];
  const visit = (steps: Step[]): void => {
    for (const step of steps) {
      if (step.field === "withExec") out.push(...(step.args.args as string[]));
      if (step.field === "withEnvVariable") out.push(String(step.args.value));
      if (step.field === "asService" && Array.isArray(step.args.args))
        out.push(...(step.args.args as string[]));
      for (const value of Object.values(step.args)) {
        if (isRef(value)) visit(value.chain);
        if (Array.isArray(value)) value.filter(isRef).forEach((ref) => visit(ref.chain));
      }
    }
  };
  visit(chain);
  return out;
}

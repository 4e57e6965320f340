// The runner's steps that go on beside the later ones (Step.beside): read just before the step
// they name, and waited for before a failure is reported. A fake session stands in for SSH:
// each command resolves after the delay its name gives, and every event is logged in order.
import { describe, expect, it } from "vitest";
import type { RemoteCommand } from "../../src/deploy/commands/index.js";
import type { Session } from "../../src/deploy/operation.js";
import { Beside, runSteps, type RunbookEntry } from "../../src/deploy/runbook.js";

interface State {
  ran: string[];
  besideNow: boolean;
}

function fakeSession(delays: Record<string, number>, fail = ""): Session {
  const run = async (command: RemoteCommand) => {
    const state = current!;
    state.ran.push(`start ${command.step}`);
    await new Promise((resolve) => setTimeout(resolve, delays[command.step] ?? 1));
    state.ran.push(`end ${command.step}`);
    if (command.step === fail) throw new Error(`${fail} failed`);
    return { exitCode: 0, stdout: "", stderr: "" };
  };
  return { run } as unknown as Session;
}
let current: State | undefined;

const step = (name: string, extra: object = {}) => ({
  command: () => ({ step: name, description: name, timeoutMs: 1000, script: "" }),
  read: (_: unknown, state: State) => void state.ran.push(`read ${name}`),
  ...extra,
});

const book = (): { prepare: RunbookEntry<State>[]; change: RunbookEntry<State>[] } => ({
  prepare: [
    {
      together: [
        step("pull"),
        step("proof", {
          beside: { label: "", holds: (s: State) => s.besideNow, until: "last" },
        }),
      ],
    },
  ],
  change: [step("switch"), step("last")],
});

describe("a step that goes on beside the later ones", () => {
  it("is read just before the step it names, while the steps between run", async () => {
    current = { ran: [], besideNow: true };
    const session = fakeSession({ proof: 80, pull: 5, switch: 5 });
    const beside = new Beside<State>();
    const { prepare, change } = book();
    await runSteps(session, prepare, current, beside);
    await runSteps(session, change, current, beside);
    const at = (event: string) => {
      expect(current!.ran).toContain(event);
      return current!.ran.indexOf(event);
    };
    expect(at("start switch")).toBeLessThan(at("end proof"));
    expect(at("read proof")).toBeGreaterThan(at("end switch"));
    expect(at("read proof")).toBeLessThan(at("start last"));
  });

  it("is waited for where it stands when it must not go on (a migration pending)", async () => {
    current = { ran: [], besideNow: false };
    const session = fakeSession({ proof: 50, pull: 5 });
    const { prepare, change } = book();
    const beside = new Beside<State>();
    await runSteps(session, prepare, current, beside);
    await runSteps(session, change, current, beside);
    expect(current.ran.slice(0, current.ran.indexOf("start switch"))).toContain("read proof");
  });

  it("a step without a read is waited for before the next one starts", async () => {
    current = { ran: [], besideNow: false };
    const session = fakeSession({ switch: 30 });
    const bare = (name: string) => ({ ...step(name), read: undefined });
    await runSteps(session, [bare("switch"), bare("start")], current);
    expect(current.ran).toEqual(["start switch", "end switch", "start start", "end start"]);
  });

  it("a step of a group that fails before its turn to be read fails the group, handled", async () => {
    current = { ran: [], besideNow: false };
    const session = fakeSession({ proof: 1, pull: 50 }, "proof");
    const { prepare } = book();
    const failed = await runSteps(session, prepare, current).catch((e: Error) => e);
    expect(String(failed)).toContain("proof failed");
    expect(current.ran).toContain("read pull");
  });

  it("has ended before a failure of a later step is reported, and can still be read for its record", async () => {
    current = { ran: [], besideNow: true };
    const session = fakeSession({ proof: 80, pull: 5, switch: 5 }, "switch");
    const { prepare, change } = book();
    const beside = new Beside<State>();
    await runSteps(session, prepare, current, beside);
    const failed = await runSteps(session, change, current, beside).catch((e: Error) => e);
    current.ran.push("failure reported");
    expect(String(failed)).toContain("switch failed");
    expect(current.ran.slice(0, current.ran.indexOf("failure reported"))).toContain("end proof");
    // Its verdict is still there for the record of the failure.
    await beside.readRest(current);
    expect(current.ran.at(-1)).toBe("read proof");
  });
});

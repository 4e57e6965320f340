// Container steps that only change the state Dagger keeps beside the filesystem (image config,
// health-checked ports, default args): pure functions of the state and the step's arguments.
import type { Step } from "../standin/engine.js";
import { absolute, durationMs, envValue, withEnv, type ContainerState } from "./containers.js";

/** The state after a config-only step, or undefined when `step` is not one. */
export function configStep(state: ContainerState, step: Step): ContainerState | undefined {
  const args = step.args;
  const config = state.config;
  switch (step.field) {
    case "withWorkdir":
      return { ...state, config: { ...config, workdir: absolute(config, String(args.path)) } };
    case "withEnvVariable": {
      let value = String(args.value);
      if (args.expand === true)
        value = value.replace(/\$\{?(\w+)\}?/g, (_, name: string) => envValue(config, name) ?? "");
      return { ...state, config: withEnv(config, String(args.name), value) };
    }
    case "withLabel":
      return {
        ...state,
        config: {
          ...config,
          labels: { ...config.labels, [String(args.name)]: String(args.value) },
        },
      };
    case "withEntrypoint": {
      // Without keepDefaultArgs the default args are cleared (and no longer "set by the user").
      const keep = args.keepDefaultArgs === true;
      return {
        ...state,
        config: { ...config, entrypoint: args.args as string[], cmd: keep ? config.cmd : [] },
        defaultArgs: keep ? state.defaultArgs : false,
      };
    }
    case "withDefaultArgs":
      return { ...state, config: { ...config, cmd: args.args as string[] }, defaultArgs: true };
    case "withExposedPort": {
      if (args.protocol !== undefined && args.protocol !== "TCP")
        throw new Error("executor: only TCP ports are exposed");
      const port = Number(args.port);
      const add = (ports: number[]) => [...ports.filter((p) => p !== port), port];
      return {
        ...state,
        ports: add(state.ports),
        config: { ...config, exposedPorts: add(config.exposedPorts) },
      };
    }
    case "withoutExposedPort": {
      const port = Number(args.port);
      const drop = (ports: number[]) => ports.filter((p) => p !== port);
      return {
        ...state,
        ports: drop(state.ports),
        config: { ...config, exposedPorts: drop(config.exposedPorts) },
      };
    }
    case "withDockerHealthcheck": {
      const ms = (name: string) => {
        const value = args[name];
        return typeof value === "string" ? { [`${name}Ms`]: durationMs(value) } : {};
      };
      return {
        ...state,
        config: {
          ...config,
          healthcheck: {
            test: [args.shell === true ? "CMD-SHELL" : "CMD", ...(args.args as string[])],
            ...ms("interval"),
            ...ms("timeout"),
            ...ms("startPeriod"),
            ...ms("startInterval"),
            ...(typeof args.retries === "number" ? { retries: args.retries } : {}),
          },
        },
      };
    }
  }
  return undefined;
}

/**
 * The argv a service runs (Dagger's AsService): args if given, else the default args; the
 * entrypoint goes first when asked, or when the image has one and no default args were set
 * explicitly (like `docker run`).
 */
export function serviceCommand(state: ContainerState, args: Record<string, unknown>): string[] {
  const { entrypoint, cmd } = state.config;
  const given = Array.isArray(args.args) ? (args.args as string[]) : [];
  if (given.length === 0 && cmd.length === 0 && entrypoint.length === 0)
    throw new Error("no service command has been set");
  let useEntrypoint = args.useEntrypoint === true;
  if (entrypoint.length > 0 && !state.defaultArgs) useEntrypoint = true;
  let command = cmd;
  if (given.length > 0) {
    command = given;
    if (args.useEntrypoint !== true) useEntrypoint = false;
  }
  return entrypoint.length > 0 && useEntrypoint ? [...entrypoint, ...command] : command;
}

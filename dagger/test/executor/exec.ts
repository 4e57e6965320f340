// withExec on the box's Docker engine: the argv runs as is in a container of the state's
// filesystem, through `docker exec`, so its environment (and every secret in it) is never part
// of a container's config, hence of any committed image.
import { StandInExecError } from "../standin/engine.js";
import { requireImage, type ContainerState } from "./containers.js";
import type { Docker } from "./docker.js";
import type { Services } from "./services.js";

export interface ExecContext {
  docker: Docker;
  services: Services;
  /** The state's secret variables' values, for the docker CLI's environment only. */
  secretValues(state: ContainerState): Record<string, string>;
  log(line: string): void;
  /** Records an image the run made (removed at the end). */
  track(image: string): void;
}

/**
 * withExec: the argv runs as is (no shell; the entrypoint only with useEntrypoint) in a
 * container of the state's filesystem, with its env, workdir, user, caches, secrets and
 * services; the resulting filesystem is committed. A non-zero exit fails like ExecError.
 */
export async function runExec(
  ctx: ExecContext,
  state: ContainerState,
  args: Record<string, unknown>,
): Promise<ContainerState> {
  const image = requireImage(state, "withExec");
  const given = (args.args as string[] | undefined) ?? [];
  const command = [
    ...(args.useEntrypoint === true ? state.config.entrypoint : []),
    ...(given.length > 0 ? given : state.config.cmd),
  ];
  if (command.length === 0) throw new Error("no command has been set");
  const expect = typeof args.expect === "string" ? args.expect : "SUCCESS";
  const started = Date.now();
  const bound = await ctx.services.bind(state.bindings);
  const workdir = state.config.workdir || "/";
  const create = ["create", "--network", "host"];
  for (const host of bound.hosts) create.push("--add-host", host);
  for (const cache of state.caches)
    create.push("--mount", `type=volume,src=${cache.volume},dst=${cache.path},volume-nocopy`);
  // `sleep` keeps the container up while the command runs through `docker exec`, whose env
  // (and so every secret) is never part of the container's config, hence of any commit.
  create.push("--workdir", workdir, "--entrypoint", "sleep", image, "infinity");
  let container = "";
  try {
    container = await ctx.docker.check(create);
    await ctx.docker.check(["start", container]);
    const secrets = ctx.secretValues(state);
    const execArgs = ["exec", "--workdir", workdir];
    if (state.config.user) execArgs.push("--user", state.config.user);
    for (const entry of state.config.env) execArgs.push("--env", entry);
    for (const name of Object.keys(secrets)) execArgs.push("--env", name);
    const raw = await ctx.docker.run([...execArgs, container, ...command], { env: secrets });
    // Dagger scrubs secret values from what a command prints.
    const result = {
      ...raw,
      stdout: scrub(raw.stdout, secrets),
      stderr: scrub(raw.stderr, secrets),
    };
    const shown = command.map((word) =>
      word.length > 40 ? `${word.slice(0, 37).replace(/\s+/g, " ")}…` : word,
    );
    ctx.log(
      `exec ${shown.join(" ")}: exit ${result.exitCode} (${((Date.now() - started) / 1000).toFixed(1)} s)`,
    );
    const failed = result.exitCode !== 0;
    if ((expect === "SUCCESS" && failed) || (expect === "FAILURE" && !failed)) {
      throw new StandInExecError(
        result.exitCode,
        errorOutput(result.stdout),
        errorOutput(result.stderr),
        command,
      );
    }
    const committed = await ctx.docker.check(["commit", container]);
    ctx.track(committed);
    return {
      ...state,
      image: committed,
      lastExec: { args: command, stdout: result.stdout, stderr: result.stderr },
    };
  } finally {
    if (container) await ctx.docker.run(["rm", "-f", container]);
    await bound.release();
  }
}

/** Secret values in a command's output become "***", as Dagger's secret scrubbing does. */
function scrub(text: string, secrets: Record<string, string>): string {
  let out = text;
  for (const value of Object.values(secrets)) if (value !== "") out = out.split(value).join("***");
  return out;
}

/** An ExecError's stdout/stderr: the last 100 KiB (marked "[omitting N bytes]..."), trimmed. */
export function errorOutput(text: string): string {
  const max = 100 * 1024;
  const bytes = Buffer.from(text);
  if (bytes.length <= max) return text.trim();
  const omitted = bytes.length - max;
  const marker = Buffer.from(`[omitting ${omitted} bytes]...`);
  const kept = bytes.subarray(omitted);
  return Buffer.concat([marker, kept.subarray(marker.length)])
    .toString()
    .trim();
}

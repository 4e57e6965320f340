// Services of the executing engine: a Container run as a service (asService) on the run's
// Docker network, started when a client needs it (a withExec with withServiceBinding, or
// Service.up/start), its bound services first, and stopped when its last client is done.
// A client reaches it under the binding's alias, written to the client's /etc/hosts
// (`--add-host`), as Dagger does (no DNS). Ready means every exposed TCP port accepts
// connections, Dagger's own readiness check.
import { connect, createServer, type Server } from "node:net";

import type { ContainerState, ServiceSpec } from "./containers.js";
import type { Docker } from "./docker.js";

export interface RunningService {
  ip: string;
  container: string;
}

interface Instance {
  running: Promise<RunningService>;
  clients: number;
  releaseBindings: () => Promise<void>;
  stopTimer?: NodeJS.Timeout;
}

export interface ServiceEnvironment {
  docker: Docker;
  network: string;
  /** The values of a container's secret variables, for the docker CLI's environment only. */
  secretValues(state: ContainerState): Record<string, string>;
  /** Readiness timeout per service. */
  readyTimeoutMs: number;
  /** How long a service outlives its last client (the next exec of a chain reuses it). */
  graceMs: number;
  log(line: string): void;
}

export class Services {
  private readonly instances = new Map<string, Instance>();

  constructor(private readonly env: ServiceEnvironment) {}

  /** Starts the bindings of a client; returns its --add-host arguments and a release function. */
  async bind(
    bindings: ContainerState["bindings"],
  ): Promise<{ hosts: string[]; release: () => Promise<void> }> {
    const acquired: ServiceSpec[] = [];
    const hosts: string[] = [];
    try {
      for (const binding of bindings) {
        const running = await this.acquire(binding.service);
        acquired.push(binding.service);
        hosts.push(`${binding.alias}:${running.ip}`);
      }
    } catch (error) {
      await Promise.all(acquired.map((spec) => this.release(spec)));
      throw error;
    }
    return {
      hosts,
      release: async () => void (await Promise.all(acquired.map((spec) => this.release(spec)))),
    };
  }

  async acquire(spec: ServiceSpec): Promise<RunningService> {
    let instance = this.instances.get(spec.key);
    if (instance) {
      clearTimeout(instance.stopTimer);
      instance.clients += 1;
      return instance.running;
    }
    let releaseBindings = (): Promise<void> => Promise.resolve();
    const running = (async () => {
      const bound = await this.bind(spec.container.bindings);
      releaseBindings = bound.release;
      return this.start(spec, bound.hosts);
    })();
    instance = { running, clients: 1, releaseBindings: () => releaseBindings() };
    this.instances.set(spec.key, instance);
    try {
      return await running;
    } catch (error) {
      this.instances.delete(spec.key);
      await releaseBindings();
      throw error;
    }
  }

  /** One client less; the last one leaves the service running for the grace period. */
  release(spec: ServiceSpec): Promise<void> {
    const instance = this.instances.get(spec.key);
    if (!instance) return Promise.resolve();
    instance.clients -= 1;
    if (instance.clients === 0) {
      instance.stopTimer = setTimeout(() => void this.stop(spec.key, instance), this.env.graceMs);
    }
    return Promise.resolve();
  }

  /** Stops every service now (end of run). */
  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.instances.entries()].map(([key, instance]) => this.stop(key, instance)),
    );
  }

  private async stop(key: string, instance: Instance): Promise<void> {
    clearTimeout(instance.stopTimer);
    if (this.instances.get(key) !== instance) return;
    this.instances.delete(key);
    const running = await instance.running.catch(() => undefined);
    if (running) await this.env.docker.run(["rm", "-f", "-v", running.container]);
    await instance.releaseBindings();
  }

  private async start(spec: ServiceSpec, hosts: string[]): Promise<RunningService> {
    const { docker } = this.env;
    const state = spec.container;
    if (!state.image)
      throw new Error("asService on a container without a filesystem: call from() first");
    const config = state.config;
    const command = spec.command;
    const secrets = this.env.secretValues(state);
    const args = ["run", "-d", "--network", this.env.network];
    for (const host of hosts) args.push("--add-host", host);
    for (const entry of config.env) args.push("-e", entry);
    // Secret values reach the docker CLI through its environment, never its argv.
    for (const name of Object.keys(secrets)) args.push("-e", name);
    for (const cache of state.caches)
      args.push("--mount", `type=volume,src=${cache.volume},dst=${cache.path},volume-nocopy`);
    if (config.user) args.push("--user", config.user);
    if (config.workdir) args.push("--workdir", config.workdir);
    args.push("--entrypoint", command[0]!, state.image, ...command.slice(1));
    const container = await docker.check(args, { env: secrets });
    const ip = await docker.check([
      "inspect",
      "--format",
      `{{(index .NetworkSettings.Networks "${this.env.network}").IPAddress}}`,
      container,
    ]);
    try {
      if (config.healthcheck) await this.waitHealthy(container, state);
      else await this.waitPorts(container, ip, state.ports);
    } catch (error) {
      const logs = await docker.run(["logs", "--tail", "40", container]);
      await docker.run(["rm", "-f", "-v", container]);
      throw new Error(
        `${(error as Error).message}\nservice output:\n${logs.stdout}${logs.stderr}`,
        { cause: error },
      );
    }
    this.env.log(
      `service ${command.join(" ")} ready at ${ip} (${config.healthcheck ? "health check passed" : `ports ${state.ports.join(", ") || "none"}`})`,
    );
    return { ip, container };
  }

  /**
   * Dagger's readiness with a Docker health check: the check runs in the service container
   * (its env, workdir, user) at once, then every startInterval (else interval, else 5 s);
   * failures count only after startPeriod; the service fails after `retries` (default 3).
   */
  private async waitHealthy(container: string, state: ContainerState): Promise<void> {
    const check = state.config.healthcheck!;
    const [kind, ...rest] = check.test;
    if (kind === "NONE" || kind === undefined)
      throw new Error("container does not have a healthcheck command");
    const argv = kind === "CMD-SHELL" ? ["/bin/sh", "-c", rest.join(" ")] : rest;
    const pause = check.startIntervalMs ?? check.intervalMs ?? 5000;
    const started = Date.now();
    const retries = check.retries ?? 3;
    let failures = 0;
    for (;;) {
      const exec = ["exec"];
      if (state.config.workdir) exec.push("--workdir", state.config.workdir);
      if (state.config.user) exec.push("--user", state.config.user);
      const secrets = this.env.secretValues(state);
      for (const name of Object.keys(secrets)) exec.push("--env", name);
      const result = await this.env.docker.run([...exec, container, ...argv], { env: secrets });
      if (result.exitCode === 0) return;
      const status = await this.exitStatus(container);
      if (status) throw new Error(`service exited before healthcheck (${status})`);
      if (Date.now() - started >= (check.startPeriodMs ?? 0)) failures += 1;
      if (failures >= retries)
        throw new Error(
          `health check errored: exit code: ${result.exitCode}\n${result.stderr.trim()}`,
        );
      await new Promise((ok) => setTimeout(ok, pause));
    }
  }

  /** "" while the container runs; else its status and exit code, for the error. */
  private async exitStatus(container: string): Promise<string> {
    const status = await this.env.docker.check([
      "inspect",
      "--format",
      "{{.State.Status}} {{.State.ExitCode}}",
      container,
    ]);
    return status.startsWith("running") ? "" : status;
  }

  /** Without a health check: every port added with withExposedPort accepts a TCP connection. */
  private async waitPorts(container: string, ip: string, ports: number[]): Promise<void> {
    const deadline = Date.now() + this.env.readyTimeoutMs;
    for (const port of ports) {
      for (;;) {
        if (await accepts(ip, port)) break;
        const exited = await this.exitStatus(container);
        if (exited) throw new Error(`the service exited before port ${port} answered (${exited})`);
        if (Date.now() > deadline)
          throw new Error(
            `the service's port ${port} did not answer within ${this.env.readyTimeoutMs / 1000} s`,
          );
        await new Promise((ok) => setTimeout(ok, 250));
      }
    }
  }
}

function accepts(host: string, port: number): Promise<boolean> {
  return new Promise((ok) => {
    const socket = connect({ host, port, timeout: 1000 });
    socket.once("connect", () => {
      socket.destroy();
      ok(true);
    });
    socket.once("error", () => ok(false));
    socket.once("timeout", () => {
      socket.destroy();
      ok(false);
    });
  });
}

/** Service.up: forwards 127.0.0.1:<frontend> to the service's <backend> port, like Dagger's tunnel. */
export async function forward(ip: string, frontend: number, backend: number): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect({ host: ip, port: backend });
    client.pipe(upstream).pipe(client);
    upstream.on("error", () => client.destroy());
    client.on("error", () => upstream.destroy());
  });
  await new Promise<void>((ok, fail) => {
    server.once("error", fail);
    server.listen(frontend, "127.0.0.1", () => ok());
  });
  return server;
}

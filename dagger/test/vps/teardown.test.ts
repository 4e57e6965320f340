// Runs last in the suite (see vitest.vps.config.ts): stops the box the way the global
// teardown does, with a container, a published port and an open SSH session in place,
// and checks that no process, mount or listening port is left behind.
import { existsSync, readFileSync } from "node:fs";
import { Client } from "ssh2";
import { describe, expect, it } from "vitest";
import { cachePaths } from "./box.js";
import { boxDocker, hostKeyOf, vpsBox } from "./helpers.js";
import { leftovers, tearDown } from "./lifecycle.js";
import { freeLoopbackPort, listeningTcpPorts, mountsUnder, processAlive } from "./system.js";

describe("teardown of the VPS box", () => {
  it("leaves no process, mount or listening port behind", async () => {
    const box = vpsBox();
    const docker = boxDocker(box);
    // Something to clean up: a running container with a published loopback port and a volume,
    // and an SSH session that is still open.
    const port = await freeLoopbackPort(box.listeningPorts);
    await docker`docker network create teardown-probe`;
    await docker`docker run -d --name teardown-probe --network teardown-probe -p ${`127.0.0.1:${port}:8000`} -v teardown-probe:/data --entrypoint sleep ${box.dbImage} 600`;
    const session = await new Promise<Client>((resolve, reject) => {
      const client = new Client();
      client.once("error", reject);
      client.once("ready", () =>
        client.exec("sleep 600", (error) => (error ? reject(error) : resolve(client))),
      );
      client.connect({
        host: box.sshHost,
        port: box.sshPort,
        username: box.sshUser,
        privateKey: readFileSync(box.privateKeyPath),
        hostVerifier: (key: Buffer) => key.equals(hostKeyOf(box.knownHostsLine)),
      });
    });
    const sessionClosed = new Promise<void>((resolve) => session.once("close", () => resolve()));
    session.on("error", () => {});

    // The checks see what is running now, so an empty result afterwards means something.
    const before = leftovers(box);
    expect(before.processes.length).toBeGreaterThanOrEqual(3);
    expect(before.mounts.length).toBeGreaterThan(0);
    expect(before.ports).toEqual(expect.arrayContaining(box.listeningPorts));
    expect(listeningTcpPorts().has(port)).toBe(true);

    const left = await tearDown(box.stateDir, box.cacheDir);

    expect(left).toEqual({ processes: [], mounts: [], ports: [] });
    for (const pid of Object.values(box.pids)) expect(processAlive(pid)).toBe(false);
    expect(mountsUnder([box.stateDir, cachePaths(box.cacheDir).dockerDataRoot])).toEqual([]);
    const listening = listeningTcpPorts();
    for (const used of [...box.listeningPorts, port]) expect(listening.has(used)).toBe(false);
    expect(existsSync(box.stateDir)).toBe(false);
    await sessionClosed;
  });
});

// The server's file tree, laid out the way the product expects a prepared VPS
// (deploy/README.md): app dirs with the server-side secrets `.env`, writable upload and log
// dirs for the backend's uid 1000, a shared backups dir. The tree lives under
// `<stateDir>/server`, standing in for the server's `/`.
import { randomBytes } from "node:crypto";
import { chown, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { EnvironmentPorts } from "./box.js";

export interface ServerLayout {
  serverRoot: string;
  productionAppDir: string;
  stagingAppDir: string;
  backupsDir: string;
  letsencryptDir: string;
}

export function serverLayout(serverRoot: string): ServerLayout {
  return {
    serverRoot,
    productionAppDir: join(serverRoot, "root", "NEW START"),
    stagingAppDir: join(serverRoot, "root", "qgo-staging"),
    backupsDir: join(serverRoot, "root", "backups"),
    letsencryptDir: join(serverRoot, "etc", "letsencrypt"),
  };
}

/** URL-safe (hex) so it can sit in DATABASE_URL without escaping. */
function generatedPassword(): string {
  return randomBytes(24).toString("hex");
}

export async function layOutServer(
  layout: ServerLayout,
  settings: {
    dbImage: string;
    edgeImage: string;
    staging: EnvironmentPorts;
    production: Required<EnvironmentPorts>;
  },
): Promise<void> {
  await mkdir(layout.backupsDir, { recursive: true, mode: 0o700 });
  await mkdir(layout.letsencryptDir, { recursive: true });
  const apps = [
    { dir: layout.stagingAppDir, ports: settings.staging, name: "staging" },
    { dir: layout.productionAppDir, ports: settings.production, name: "production" },
  ];
  for (const app of apps) {
    for (const sub of ["backend/uploads", "backend/logs"]) {
      await mkdir(join(app.dir, sub), { recursive: true });
      await chown(join(app.dir, sub), 1000, 1000);
    }
    const lines = [
      `# Server-side settings and secrets of ${app.name} (written by the VPS-in-a-box; never in the repo)`,
      `MYSQL_ROOT_PASSWORD=${generatedPassword()}`,
      "MYSQL_DATABASE=qgo",
      "MYSQL_USER=qgo",
      `MYSQL_PASSWORD=${generatedPassword()}`,
      `DB_IMAGE=${settings.dbImage}`,
      `EDGE_IMAGE=${settings.edgeImage}`,
      // Loopback only: tests address 127.0.0.1 and nothing else.
      "PUBLISH_ADDRESS=127.0.0.1",
      `BACKEND_PORT=${app.ports.backend}`,
      `FRONTEND_PORT=${app.ports.frontend}`,
      ...(app.ports.https
        ? [`HTTPS_PORT=${app.ports.https}`, `LETSENCRYPT_HOST_DIR=${layout.letsencryptDir}`]
        : []),
      "",
    ];
    await writeFile(join(app.dir, ".env"), lines.join("\n"), { mode: 0o600 });
  }
}

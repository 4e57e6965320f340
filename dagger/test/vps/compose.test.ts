// The product's compose files on the VPS-in-a-box, driven over SSH like a deploy does it:
// v1 comes up (db, migrations, backend, frontend nginx, the edge holding the ports), /health
// answers 200 through the edge and nginx,
// rows and an uploaded file written through the API survive `up -d` of v2 (one more
// migration). The environment is staging; afterwards the server is left as it was found.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { quote } from "zx";
import type { ReleaseName, VpsBox } from "./box.js";
import { repoRoot } from "./lifecycle.js";
import { activeConf, EDGE_NGINX_CONF } from "../../src/deploy/commands/edge.js";
import {
  appDir,
  composeCommand,
  dbQuery,
  httpRequest,
  sftpWrite,
  sshCheck,
  sshRun,
  vpsBox,
} from "./helpers.js";

const env = "staging";
let box: VpsBox;
let frontendUrl: string;
let resetEnvironment: string;

function releaseEnv(release: ReleaseName): string {
  const images = box.images[release];
  return [
    `BACKEND_IMAGE=${images.backend}`,
    `FRONTEND_IMAGE=${images.frontend}`,
    `APP_VERSION=${release}-box`,
    "GIT_COMMIT=box",
    "",
  ].join("\n");
}

/** What a deploy does for one release, in its simplest form: pull, migrate, up, wait. */
async function deployOverSsh(release: ReleaseName): Promise<void> {
  const dir = appDir(box, env);
  await sftpWrite(box, { [join(dir, "release.env")]: releaseEnv(release) });
  const compose = composeCommand(box, env);
  await sshCheck(
    box,
    [
      `cd ${quote(dir)}`,
      `${compose} pull --quiet`,
      `${compose} up -d --wait db`,
      // The offline migration applier shipped in the backend image (the harness cannot run
      // Prisma's schema engine); records migrations in _prisma_migrations like Prisma.
      `${compose} run --rm --no-deps -T backend node /app/backend/scripts/apply-migrations.mjs`,
      `${compose} up -d --wait`,
    ].join("\n"),
  );
}

async function health(): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await httpRequest(`${frontendUrl}/health`);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  box = vpsBox();
  resetEnvironment = [
    `${composeCommand(box, env)} down -v --remove-orphans`,
    "find backend/uploads backend/logs -mindepth 1 -delete",
  ].join("\n");
  frontendUrl = `http://127.0.0.1:${box.ports[env].frontend}`;
  const dir = appDir(box, env);
  const deployDir = join(repoRoot, "deploy");
  await sshCheck(box, `mkdir -p ${quote(join(dir, "edge"))}`);
  await sftpWrite(box, {
    [join(dir, "compose.yaml")]: readFileSync(join(deployDir, "compose.yaml")),
    [join(dir, `compose.${env}.yaml`)]: readFileSync(join(deployDir, `compose.${env}.yaml`)),
    [join(dir, "release.env")]: releaseEnv("v1"),
    // The edge's configuration, as a deploy's route step writes it (the default color, blue).
    [join(dir, "edge", "nginx.conf")]: EDGE_NGINX_CONF,
    [join(dir, "edge", "active.conf")]: activeConf("blue"),
  });
  // Start from an empty environment, whatever tests ran before on the shared box.
  await sshCheck(box, `cd ${quote(dir)}\n${resetEnvironment}`);
});

afterAll(async () => {
  if (!box) return;
  const dir = appDir(box, env);
  await sshRun(
    box,
    [
      `cd ${quote(dir)}`,
      resetEnvironment,
      "rm -rf compose.yaml compose.staging.yaml release.env edge",
    ].join("\n"),
  );
});

describe("product compose files on the VPS box (staging)", () => {
  let shipmentId: number;
  const trackingNumber = `BOX-${Date.now().toString(36).toUpperCase()}`;
  // A minimal PDF: the backend accepts PDF, PNG and JPEG and checks the file signature.
  const documentText = `%PDF-1.4\n% bill of lading ${trackingNumber}\n%%EOF\n`;

  it("v1: `docker compose up -d` over SSH, /health 200 through the frontend's nginx", async () => {
    await deployOverSsh("v1");
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ok", db: "up", version: "v1-box" });
    const index = await httpRequest(`${frontendUrl}/`);
    expect(index.status).toBe(200);
    expect(await index.text()).toMatch(/<div id="root"|<!doctype html>/i);
    // Only loopback: the published ports are bound to 127.0.0.1.
    const ports = await sshCheck(
      box,
      `docker ps --filter label=com.docker.compose.project=${box.projects[env]} --format '{{.Ports}}'`,
    );
    expect(ports).toContain(`127.0.0.1:${box.ports[env].frontend}->80/tcp`);
    expect(ports).not.toMatch(/0\.0\.0\.0:|:::/);
  });

  it("v1: rows and an uploaded file written through the API", async () => {
    const created = await httpRequest(`${frontendUrl}/api/shipments`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        trackingNumber,
        customerName: "Box Test GmbH",
        origin: "Hamburg",
        destination: "Lyon",
        weightKg: 12.5,
      }),
    });
    expect(created.status).toBe(201);
    shipmentId = ((await created.json()) as { id: number }).id;
    const event = await httpRequest(`${frontendUrl}/api/shipments/${shipmentId}/events`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ description: "Loaded at the box", location: "Hamburg" }),
    });
    expect(event.status).toBe(201);
    const form = new FormData();
    form.append("file", new Blob([documentText], { type: "application/pdf" }), "bill.pdf");
    const upload = await httpRequest(`${frontendUrl}/api/shipments/${shipmentId}/documents`, {
      method: "POST",
      body: form,
    });
    expect(upload.status, await upload.clone().text()).toBe(201);
    // The upload landed in the app dir's bind mount, written by the container's uid 1000.
    const files = await sshCheck(
      box,
      `find ${quote(join(appDir(box, env), "backend/uploads"))} -type f -printf '%U %s\\n'`,
    );
    expect(files.trim().split("\n")).toContain(`1000 ${Buffer.byteLength(documentText)}`);
  });

  it("v2: rows and files survive `up -d` of v2, and its migration is applied", async () => {
    const rowsBefore = await dbQuery(
      box,
      box.projects[env],
      "SELECT id, trackingNumber FROM shipments ORDER BY id",
    );
    await deployOverSsh("v2");
    const { status, body } = await health();
    expect(status).toBe(200);
    expect(body).toMatchObject({ status: "ok", version: "v2-box" });

    expect(
      await dbQuery(box, box.projects[env], "SELECT id, trackingNumber FROM shipments ORDER BY id"),
    ).toEqual(rowsBefore);
    const shipment = await httpRequest(`${frontendUrl}/api/shipments/${shipmentId}`);
    expect(shipment.status).toBe(200);
    const detail = (await shipment.json()) as {
      trackingNumber: string;
      events: { description: string }[];
      documents: { id: number }[];
    };
    expect(detail.trackingNumber).toBe(trackingNumber);
    expect(detail.events.map((e) => e.description)).toContain("Loaded at the box");
    expect(detail.documents).toHaveLength(1);
    const download = await httpRequest(
      `${frontendUrl}/api/shipments/${shipmentId}/documents/${detail.documents[0]?.id}/download`,
    );
    expect(download.status).toBe(200);
    expect(await download.text()).toBe(documentText);

    const migrations = await dbQuery(
      box,
      box.projects[env],
      `SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name`,
    );
    expect(migrations.at(-1)).toEqual([box.v2Migration.name]);
    expect(
      await dbQuery(box, box.projects[env], `SELECT note FROM \`${box.v2Migration.table}\``),
    ).toEqual([["v2 migration applied"]]);
  });

  it("the production app dir (a path with a space) resolves the bind mounts", async () => {
    const dir = appDir(box, "production");
    expect(dir.endsWith("/NEW START")).toBe(true);
    const deployDir = join(repoRoot, "deploy");
    await sftpWrite(box, {
      [join(dir, "compose.yaml")]: readFileSync(join(deployDir, "compose.yaml")),
      [join(dir, "compose.production.yaml")]: readFileSync(
        join(deployDir, "compose.production.yaml"),
      ),
      [join(dir, "release.env")]: releaseEnv("v1"),
    });
    try {
      const config = await sshCheck(
        box,
        `cd ${quote(dir)}\n${composeCommand(box, "production")} config --format json`,
      );
      const parsed = JSON.parse(config) as {
        services: Record<string, { volumes?: { source: string }[] }>;
      };
      const sources = (parsed.services.backend?.volumes ?? []).map((volume) => volume.source);
      expect(sources).toEqual(
        expect.arrayContaining([join(dir, "backend/uploads"), join(dir, "backend/logs")]),
      );
    } finally {
      await sshRun(box, `cd ${quote(dir)}\nrm -f compose.yaml compose.production.yaml release.env`);
    }
  });
});

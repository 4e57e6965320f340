// Recorded chains of backend-image, frontend-image, build, publish and serve, called through the
// SDK entrypoint against the stand-in engine. They prove what the engine would be asked to build,
// push and start; they do not build images or push them anywhere.
import { beforeAll, describe, expect, it } from "vitest";

import type { CallResult, Ref, Step } from "../standin/engine.js";
import { evaluated, execs, refArg, stepsNamed } from "../standin/chains.js";
import { everyQueryValid, expectSuccess, useStandIn } from "./fixture.js";

const fixture = useStandIn();

/** The chain behind an object a function returned (its ID). */
function returned(result: CallResult): Ref {
  expectSuccess(result);
  const ref = fixture.engine.lookup(String(result.returnValue));
  if (!ref)
    throw new Error(`the function returned ${String(result.returnValue)}, not an object ID`);
  return ref;
}

function buildArgs(chain: Step[]): Record<string, string> {
  const build = stepsNamed(chain, "dockerBuild")[0];
  const args = (build?.args.buildArgs ?? []) as { name: string; value: string }[];
  return Object.fromEntries(args.map((arg) => [arg.name, arg.value]));
}

function labels(chain: Step[]): Record<string, string> {
  return Object.fromEntries(
    stepsNamed(chain, "withLabel").map((s) => [String(s.args.name), String(s.args.value)]),
  );
}

describe("backend-image, frontend-image and build", () => {
  it("backend-image: dockerBuild of backend/Dockerfile on the repository root, with NODE_IMAGE, version, commit and source as build args and OCI labels; nothing runs until chained", async () => {
    const result = await fixture.call("backendImage", {
      gitCommit: "0123abc",
      appVersion: "1.4.0",
      sourceUrl: "https://github.com/acme/qgo-cargo",
    });
    const image = returned(result);
    expect(image.type).toBe("Container");
    expect(image.chain.slice(0, 2)).toEqual(fixture.engine.lookup(fixture.source)!.chain);
    expect(stepsNamed(image.chain, "dockerBuild")[0]!.args.dockerfile).toBe("backend/Dockerfile");
    expect(buildArgs(image.chain)).toEqual({
      NODE_IMAGE: "node:22-alpine",
      APP_VERSION: "1.4.0",
      GIT_COMMIT: "0123abc",
      SOURCE_URL: "https://github.com/acme/qgo-cargo",
    });
    expect(labels(image.chain)).toEqual({
      "org.opencontainers.image.revision": "0123abc",
      "org.opencontainers.image.version": "1.4.0",
      "org.opencontainers.image.source": "https://github.com/acme/qgo-cargo",
    });
    expect(
      result.evaluations.filter(
        (e) =>
          e.leaf.field !== "id" &&
          !["currentModule", "currentFunctionCall"].includes(e.chain[0]!.field),
      ),
    ).toEqual([]);
  });

  it("frontend-image: frontend/Dockerfile with NODE_IMAGE and NGINX_IMAGE from the constructor options", async () => {
    const image = returned(
      await fixture.call(
        "frontendImage",
        {},
        { nodeImage: "node:22-bookworm-slim", nginxImage: "nginx:1.27", frontendPath: "web" },
      ),
    );
    expect(stepsNamed(image.chain, "dockerBuild")[0]!.args.dockerfile).toBe("web/Dockerfile");
    expect(buildArgs(image.chain)).toMatchObject({
      NODE_IMAGE: "node:22-bookworm-slim",
      NGINX_IMAGE: "nginx:1.27",
      GIT_COMMIT: "unknown",
      APP_VERSION: "dev",
    });
  });

  it("build: a directory holding backend.tar and frontend.tar, each the tarball of its image", async () => {
    const directory = returned(await fixture.call("build", { gitCommit: "0123abc" }));
    expect(directory.type).toBe("Directory");
    const files = stepsNamed(directory.chain, "withFile");
    expect(files.map((f) => f.args.path)).toEqual(["backend.tar", "frontend.tar"]);
    const tarballs = files.map((f) => refArg(f, "source"));
    expect(tarballs.map((t) => t.chain.at(-1)!.field)).toEqual(["asTarball", "asTarball"]);
    expect(tarballs.map((t) => stepsNamed(t.chain, "dockerBuild")[0]!.args.dockerfile)).toEqual([
      "backend/Dockerfile",
      "frontend/Dockerfile",
    ]);
    expect(tarballs.map((t) => buildArgs(t.chain).GIT_COMMIT)).toEqual(["0123abc", "0123abc"]);
  });
});

describe("publish", () => {
  const token = "ghp_standin_0000000000000000000000000000000";
  let passwordId: string;
  let result: CallResult;

  beforeAll(async () => {
    passwordId = fixture.engine.secret("env://GITHUB_TOKEN", token);
    result = await fixture.call("publish", {
      repository: "Acme/QGO-Cargo",
      username: "alice",
      password: passwordId,
      tag: "0123abcdef",
      extraTags: ["develop"],
    });
    expectSuccess(result);
  });

  it("pushes each image under the commit tag first, then the extra tags, to REGISTRY/owner/name/component (lower-cased)", () => {
    const addresses = evaluated(result, "publish").map((e) => String(e.leaf.args.address));
    expect(addresses.filter((a) => a.includes("/backend:"))).toEqual([
      "ghcr.io/acme/qgo-cargo/backend:0123abcdef",
      "ghcr.io/acme/qgo-cargo/backend:develop",
    ]);
    expect(addresses.filter((a) => a.includes("/frontend:"))).toEqual([
      "ghcr.io/acme/qgo-cargo/frontend:0123abcdef",
      "ghcr.io/acme/qgo-cargo/frontend:develop",
    ]);
  });

  it("authenticates every push with the password Secret the caller passed (withRegistryAuth), and labels images with the tag as commit", () => {
    for (const push of evaluated(result, "publish")) {
      const auth = stepsNamed(push.chain, "withRegistryAuth");
      expect(auth).toHaveLength(1);
      expect(auth[0]!.args).toMatchObject({ address: "ghcr.io", username: "alice" });
      expect(refArg(auth[0], "secret").ref).toBe(passwordId);
      expect(buildArgs(push.chain)).toMatchObject({
        GIT_COMMIT: "0123abcdef",
        APP_VERSION: "0123abcdef",
      });
    }
  });

  it("never reads the token: its plaintext appears in no query the module sent", () => {
    expect(evaluated(result, "plaintext")).toEqual([]);
    for (const query of result.queries) expect(query.query).not.toContain(token);
  });

  it("returns the digest references the registry answered (no tag in them), then the tags it pushed", () => {
    const answered = (component: string) =>
      String(
        evaluated(result, "publish").find((e) =>
          String(e.leaf.args.address).endsWith(`/${component}:0123abcdef`),
        )!.value,
      );
    const digest = (published: string) => /@(sha256:[0-9a-f]{64})$/.exec(published)![1];
    expect(result.returnValue).toBe(
      `BACKEND_IMAGE=ghcr.io/acme/qgo-cargo/backend@${digest(answered("backend"))}\n` +
        `FRONTEND_IMAGE=ghcr.io/acme/qgo-cargo/frontend@${digest(answered("frontend"))}\n` +
        `TAGS=0123abcdef,develop\n`,
    );
  });

  it("fails before building or pushing anything when the repository is not OWNER/NAME", async () => {
    const bad = await fixture.call("publish", {
      repository: "acme qgo",
      username: "alice",
      password: passwordId,
      tag: "0123abcdef",
    });
    expect(bad.exitCode).toBe(1);
    expect(bad.error).toContain(
      '--repository "acme qgo" is not a repository path: pass OWNER/NAME',
    );
    expect(evaluated(bad, "publish")).toEqual([]);
  });

  it("fails when two tags of one image got different digests", async () => {
    fixture.engine.respond((e) =>
      e.leaf.field === "publish" && String(e.leaf.args.address).endsWith(":develop")
        ? `${String(e.leaf.args.address)}@sha256:${"f".repeat(64)}`
        : undefined,
    );
    const mixed = await fixture.call("publish", {
      repository: "acme/qgo-cargo",
      username: "alice",
      password: passwordId,
      tag: "0123abcdef",
      extraTags: ["develop"],
    });
    expect(mixed.error).toMatch(/the tags 0123abcdef, develop got different digests/);
  });

  it("fails naming the registry when the push answer has no digest", async () => {
    fixture.engine.respond((e) =>
      e.leaf.field === "publish" ? String(e.leaf.args.address) : undefined,
    );
    const noDigest = await fixture.call("publish", {
      repository: "acme/qgo-cargo",
      username: "alice",
      password: passwordId,
      tag: "0123abcdef",
      registry: "127.0.0.1:5000",
    });
    expect(noDigest.error).toContain(
      "has no sha256 digest: check that 127.0.0.1:5000 is an OCI registry",
    );
  });
});

describe("serve", () => {
  let result: CallResult;
  let frontend: Ref;
  beforeAll(async () => {
    result = await fixture.call("serve");
    frontend = returned(result);
  });

  it("returns the frontend nginx as a Service on port 80, bound to the backend service under the host name backend", () => {
    expect(frontend.type).toBe("Service");
    expect(stepsNamed(frontend.chain, "dockerBuild")[0]!.args.dockerfile).toBe(
      "frontend/Dockerfile",
    );
    expect(stepsNamed(frontend.chain, "withExposedPort").map((s) => s.args.port)).toEqual([80]);
    // The Dockerfile EXPOSEs 443 too; Dagger health-checks every port a dockerBuild exposes, and
    // without certificates nginx listens on 80 only: `serve up` would wait on 443 and fail.
    expect(stepsNamed(frontend.chain, "withoutExposedPort").map((s) => s.args.port)).toEqual([443]);
    expect(frontend.chain.at(-1)).toMatchObject({
      field: "asService",
      args: { useEntrypoint: true },
    });
    const binding = stepsNamed(frontend.chain, "withServiceBinding");
    expect(binding.map((b) => b.args.alias)).toEqual(["backend"]);
  });

  it("tells the frontend's nginx to resolve the backend through the system resolver (the binding's alias is in /etc/hosts, there is no Docker DNS), at the bound alias and the backend's exposed port", () => {
    const env: Record<string, string> = Object.fromEntries(
      stepsNamed(frontend.chain, "withEnvVariable").map((s) => [
        String(s.args.name),
        String(s.args.value),
      ]),
    );
    expect(env).toMatchObject({ QGO_BACKEND_RESOLVER: "system", QGO_BACKEND: "backend:5000" });
    const binding = stepsNamed(frontend.chain, "withServiceBinding")[0];
    const [host, port] = (env.QGO_BACKEND ?? "").split(":");
    expect(host).toBe(binding?.args.alias);
    const backend = refArg(binding, "service");
    expect(stepsNamed(backend.chain, "withExposedPort").map((s) => s.args.port)).toEqual([
      Number(port),
    ]);
    // Set on the image before it becomes the service, so the entrypoint sees them at start.
    const asService = frontend.chain.length - 1;
    for (const name of ["QGO_BACKEND", "QGO_BACKEND_RESOLVER"]) {
      const at = frontend.chain.findIndex(
        (s) => s.field === "withEnvVariable" && s.args.name === name,
      );
      expect(at).toBeGreaterThan(frontend.chain.findIndex((s) => s.field === "dockerBuild"));
      expect(at).toBeLessThan(asService);
    }
  });

  it("the backend service is its image (migrated with prisma migrate deploy, seeded with node dist/seed.js, then the image's CMD), bound to MySQL (with its health check), given DATABASE_URL as a Secret, on port 5000", async () => {
    const backend = refArg(stepsNamed(frontend.chain, "withServiceBinding")[0], "service");
    expect(backend.type).toBe("Service");
    expect(stepsNamed(backend.chain, "dockerBuild")[0]!.args.dockerfile).toBe("backend/Dockerfile");
    expect(buildArgs(backend.chain)).toMatchObject({ NODE_IMAGE: "node:22-alpine" });
    // Nothing built from the sources: no npm ci or build in a Node container.
    expect(execs(backend.chain)).toEqual([]);
    expect(stepsNamed(backend.chain, "from")).toEqual([]);
    expect(stepsNamed(backend.chain, "withExposedPort").map((s) => s.args.port)).toEqual([5000]);
    const mysqlBinding = stepsNamed(backend.chain, "withServiceBinding")[0];
    expect(mysqlBinding?.args.alias).toBe("mysql");
    const mysql = refArg(mysqlBinding, "service");
    expect(stepsNamed(mysql.chain, "from")[0]!.args.address).toBe("mysql:8.4");
    expect(stepsNamed(mysql.chain, "withDockerHealthcheck")).toHaveLength(1);
    expect(stepsNamed(backend.chain, "withSecretVariable").map((s) => s.args.name)).toEqual([
      "DATABASE_URL",
    ]);
    expect(stepsNamed(backend.chain, "withEnvVariable").map((s) => s.args.name)).not.toContain(
      "DATABASE_URL",
    );

    // The entrypoint migrates and seeds, then execs its arguments: the image's CMD, kept by
    // keepDefaultArgs and used because asService gets no args of its own.
    const entrypoint = stepsNamed(backend.chain, "withEntrypoint");
    expect(entrypoint).toHaveLength(1);
    expect(entrypoint[0]!.args.keepDefaultArgs).toBe(true);
    const [shell, flag, script, name, ...rest] = entrypoint[0]!.args.args as string[];
    expect([shell, flag, name, rest]).toEqual(["sh", "-c", "qgo-serve-backend", []]);
    expect(script).toBe('npx --no-install prisma migrate deploy && node dist/seed.js && exec "$@"');
    // --migrate-command replaces the migration, each word quoted for sh.
    const offline = await fixture.call("serve", {
      migrateCommand: ["node", "scripts/apply migrations.mjs"],
    });
    const offlineBackend = refArg(
      stepsNamed(returned(offline).chain, "withServiceBinding")[0],
      "service",
    );
    const offlineScript = (
      stepsNamed(offlineBackend.chain, "withEntrypoint")[0]!.args.args as string[]
    )[2];
    expect(offlineScript).toBe(
      `node 'scripts/apply migrations.mjs' && node dist/seed.js && exec "$@"`,
    );
    expect(backend.chain.at(-1)).toMatchObject({
      field: "asService",
      args: { useEntrypoint: true },
    });
    expect(Object.keys(backend.chain.at(-1)!.args)).toEqual(["useEntrypoint"]);
    expect(stepsNamed(backend.chain, "withDefaultArgs")).toEqual([]);
    expect(stepsNamed(backend.chain, "withoutDefaultArgs")).toEqual([]);
  });

  it("starts nothing itself: the caller's `up` does", () => {
    expect(evaluated(result, "up")).toEqual([]);
    expect(evaluated(result, "start")).toEqual([]);
    expect(evaluated(result, "stdout")).toEqual([]);
  });
});

everyQueryValid(fixture);

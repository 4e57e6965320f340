// The containers and services the pipeline's functions are built from: the workspace with the
// dependencies installed, the MySQL service, the app images, and small helpers. Plain functions
// over Dagger's API; the Qgo class in ../index.ts composes them.
import { randomBytes } from "node:crypto";
import { Container, dag, Directory, ExecError, File, Secret, Service } from "@dagger.io/dagger";

import { failure, summarize } from "../lib/output.js";

/** The module's own directory in the repository (dagger.json "source"). */
export const MODULE_DIR = "dagger";
/** Where the sources sit inside the build containers. */
export const WORKDIR = "/src";
/** npm's download cache, kept in a cache volume across runs. */
export const NPM_CACHE = "/root/.npm";
/** Host names the services answer to inside the pipeline. */
export const MYSQL_HOST = "mysql";
/** The frontend's nginx proxies /api and /health to this host and port. */
export const BACKEND_HOST = "backend";
export const BACKEND_PORT = 5000;
export const MYSQL_PORT = 3306;
export const TEST_DATABASE = "qgo_test";
export const PRISMA_MIGRATE_DEPLOY = ["npx", "--no-install", "prisma", "migrate", "deploy"];
export const PRISMA_DRIFT_CHECK = [
  "npx",
  "--no-install",
  "prisma",
  "migrate",
  "diff",
  "--from-config-datasource",
  "--to-schema",
  "prisma/schema.prisma",
  "--exit-code",
];
export const SERVE_DATABASE = "qgo";

/** The repository layout and images the pipeline's containers are built from (Qgo's options). */
export interface Layout {
  source: Directory;
  testImage: string;
  mysqlImage: string;
  backendPath: string;
  frontendPath: string;
}

/** Node container with the workspaces' dependencies installed (lockfiles copied first). */
export function workspace(layout: Layout): Container {
  return dag
    .container()
    .from(layout.testImage)
    .withMountedCache(NPM_CACHE, dag.cacheVolume("qgo-npm"))
    .withWorkdir(WORKDIR)
    .withDirectory(WORKDIR, layout.source, {
      include: [
        "package.json",
        "package-lock.json",
        `${layout.backendPath}/package.json`,
        `${layout.frontendPath}/package.json`,
      ],
    })
    .withExec(["npm", "ci", "--no-audit", "--no-fund"]);
}

/**
 * A MySQL service with a health check (so clients start only once it answers), its root
 * password a fresh Secret, and the DATABASE_URL that reaches it, also a Secret.
 */
export function mysqlService(
  mysqlImage: string,
  database: string,
): { service: Service; url: Secret } {
  const password = randomBytes(24).toString("hex");
  const rootPassword = dag.setSecret(`qgo-${database}-mysql-root-password`, password);
  const url = dag.setSecret(
    `qgo-${database}-database-url`,
    `mysql://root:${password}@${MYSQL_HOST}:${MYSQL_PORT}/${database}`,
  );
  const service = dag
    .container()
    .from(mysqlImage)
    .withSecretVariable("MYSQL_ROOT_PASSWORD", rootPassword)
    .withEnvVariable("MYSQL_DATABASE", database)
    .withExposedPort(MYSQL_PORT)
    // mysqladmin ping over TCP succeeds only once the real server listens (the image's init
    // phase runs a server without networking); it needs no password to answer.
    .withDockerHealthcheck(
      ["mysqladmin", "ping", "--host=127.0.0.1", "--protocol=TCP", "--silent"],
      {
        interval: "2s",
        timeout: "5s",
        startPeriod: "120s",
        startInterval: "1s",
        retries: 60,
      },
    )
    .asService({ useEntrypoint: true });
  return { service, url };
}

/** An app image built from its Dockerfile (repository root as context), OCI labels set. */
export function appImage(
  source: Directory,
  path: string,
  baseImages: Record<string, string>,
  gitCommit: string,
  appVersion: string,
  sourceUrl: string,
): Container {
  const buildArgs = Object.entries({
    ...baseImages,
    APP_VERSION: appVersion,
    GIT_COMMIT: gitCommit,
    SOURCE_URL: sourceUrl,
  }).map(([name, value]) => ({ name, value }));
  return source
    .dockerBuild({ dockerfile: `${path}/Dockerfile`, buildArgs })
    .withLabel("org.opencontainers.image.revision", gitCommit)
    .withLabel("org.opencontainers.image.version", appVersion)
    .withLabel("org.opencontainers.image.source", sourceUrl);
}

/** A Markdown file for `export --path "$GITHUB_STEP_SUMMARY"`. */
export function markdownFile(markdown: string): File {
  return dag.directory().withNewFile("summary.md", markdown).file("summary.md");
}

/** Installs Debian packages in a container of the (Debian-based) test image. */
export function withDebianPackages(container: Container, packages: string[]): Container {
  return container
    .withEnvVariable("DEBIAN_FRONTEND", "noninteractive")
    .withExec(["apt-get", "update", "-qq"])
    .withExec(["apt-get", "install", "-y", "-qq", "--no-install-recommends", ...packages]);
}

/** Runs a step; returns its summary, or fails with its output when the command fails. */
export async function run(label: string, container: Container): Promise<string> {
  const started = Date.now();
  try {
    return summarize(`${label}`, await container.stdout(), Date.now() - started);
  } catch (error) {
    if (error instanceof ExecError) {
      throw failure(label, error.cmd, error.exitCode, error.stdout, error.stderr);
    }
    throw error;
  }
}

// Lint and the tests, as containers: what `lint`, `test-backend` and `test-frontend` run.
import {
  type Layout,
  MODULE_DIR,
  MYSQL_HOST,
  mysqlService,
  PRISMA_DRIFT_CHECK,
  PRISMA_MIGRATE_DEPLOY,
  run,
  TEST_DATABASE,
  withDebianPackages,
  WORKDIR,
  workspace,
} from "./containers.js";

/** npm run lint and npm run typecheck over the whole repository, in parallel. */
export async function lintAndTypecheck(layout: Layout): Promise<string> {
  const checked = workspace(layout)
    // Include patterns keep paths relative to the copied directory: these two land in
    // /src/dagger/, where `npm ci --prefix dagger` reads them.
    .withDirectory(WORKDIR, layout.source, {
      include: [`${MODULE_DIR}/package.json`, `${MODULE_DIR}/package-lock.json`],
    })
    .withExec(["npm", "ci", "--no-audit", "--no-fund", "--prefix", MODULE_DIR])
    .withDirectory(WORKDIR, layout.source)
    .withExec(["npm", "run", "prisma:generate", "-w", layout.backendPath]);
  const results = await Promise.all([
    run("lint", checked.withExec(["npm", "run", "lint"])),
    run("typecheck", checked.withExec(["npm", "run", "typecheck"])),
  ]);
  return results.join("\n");
}

/** The backend's tests against a MySQL service, after its migrations and a drift check. */
export async function backendTests(
  layout: Layout,
  migrateCommand: string[],
  driftCheckCommand: string[],
): Promise<string> {
  const database = mysqlService(layout.mysqlImage, TEST_DATABASE);
  // The suite's own harness test starts a throwaway MariaDB (mariadbd from mariadb-server), as
  // on CI's machine; every other test uses the MySQL service through DATABASE_URL.
  const migrated = withDebianPackages(workspace(layout), ["mariadb-server"])
    .withDirectory(WORKDIR, layout.source)
    .withExec(["npm", "run", "prisma:generate", "-w", layout.backendPath])
    .withServiceBinding(MYSQL_HOST, database.service)
    .withSecretVariable("DATABASE_URL", database.url)
    .withWorkdir(`${WORKDIR}/${layout.backendPath}`)
    .withExec(migrateCommand.length > 0 ? migrateCommand : PRISMA_MIGRATE_DEPLOY)
    // The freshly migrated database is compared with schema.prisma: any difference means
    // the migrations and the schema disagree (exit code 2).
    .withExec(driftCheckCommand.length > 0 ? driftCheckCommand : PRISMA_DRIFT_CHECK)
    .withWorkdir(WORKDIR);
  return run("backend tests", migrated.withExec(["npm", "test", "-w", layout.backendPath]));
}

/** The frontend's tests (npm test in its workspace). */
export async function frontendTests(layout: Layout): Promise<string> {
  // The nginx config tests run the real server (Debian's nginx-light) and make certificates
  // with openssl; the certificate tests run Let's Encrypt's ACME test server (pebble) and
  // certbot. All Debian packages, as on CI's machine.
  const tested = withDebianPackages(workspace(layout), [
    "nginx-light",
    "openssl",
    "pebble",
    "certbot",
  ])
    .withDirectory(WORKDIR, layout.source)
    .withExec(["npm", "test", "-w", layout.frontendPath]);
  return run("frontend tests", tested);
}

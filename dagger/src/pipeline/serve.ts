// The whole stack as one service (`serve`): MySQL, the backend migrated and seeded, and the
// frontend's nginx in front of it on port 80.
import type { Container, Service } from "@dagger.io/dagger";
import { quote as quoteForSh } from "shell-quote";

import {
  BACKEND_HOST,
  BACKEND_PORT,
  MYSQL_HOST,
  mysqlService,
  PRISMA_MIGRATE_DEPLOY,
  SERVE_DATABASE,
} from "./containers.js";

export function wholeStack(
  mysqlImage: string,
  backendImage: Container,
  frontendImage: Container,
  migrateCommand: string[],
): Service {
  const database = mysqlService(mysqlImage, SERVE_DATABASE);
  // The backend image as built for deploys: migrate, seed (compiled to dist/seed.js), then the
  // image's own CMD, which the entrypoint receives as "$@" (kept by keepDefaultArgs).
  const migrate = migrateCommand.length > 0 ? migrateCommand : PRISMA_MIGRATE_DEPLOY;
  // POSIX quoting (shell-quote): the image's sh may be dash, which has no $'...' (zx's quote).
  const migrateSeedThenRun = `${quoteForSh(migrate)} && node dist/seed.js && exec "$@"`;
  const backend = backendImage
    .withServiceBinding(MYSQL_HOST, database.service)
    .withSecretVariable("DATABASE_URL", database.url)
    .withEnvVariable("PORT", String(BACKEND_PORT))
    .withExposedPort(BACKEND_PORT)
    .withEntrypoint(["sh", "-c", migrateSeedThenRun, "qgo-serve-backend"], {
      keepDefaultArgs: true,
    })
    .asService({ useEntrypoint: true });
  return (
    frontendImage
      .withServiceBinding(BACKEND_HOST, backend)
      // Dagger puts a binding's alias only in the container's /etc/hosts and runs no Docker DNS
      // (127.0.0.11), so nginx resolves the backend once at start (see docker-entrypoint.sh).
      .withEnvVariable("QGO_BACKEND", `${BACKEND_HOST}:${BACKEND_PORT}`)
      .withEnvVariable("QGO_BACKEND_RESOLVER", "system")
      // The image EXPOSEs 443 too, and Dagger health-checks every port a Dockerfile exposes
      // before a service counts as up; serve has no certificates, so nginx listens on 80 only
      // and 443 would keep `serve up` waiting (15 minutes) until it failed.
      .withoutExposedPort(443)
      .withExposedPort(80)
      .asService({ useEntrypoint: true })
  );
}

// A release on the server: its files uploaded beside the live ones, the images logged in to
// and pulled, migrations run in the new backend image, the switch, and compose up.
import {
  q,
  script,
  STATE_DIR_NAME,
  SECOND,
  MINUTE,
  serverPaths,
  composeCommand,
  type RemoteCommand,
  type ReleaseFile,
  type ReleaseImages,
  registryOf,
  serviceContainer,
} from "./shared.js";
import { MYSQL_CLIENT } from "./database.js";
import { PENDING_MIGRATIONS } from "./proof.js";
import { waitForLeftoversLines } from "./leftovers.js";
import { keepEnvironmentTls, tlsEnvEntries } from "./certificates.js";
import {
  backupNameValue,
  checkEnvironmentFields,
  digestRefValue,
  envFileText,
  fileNameValue,
  imageRepositoryValue,
  imageTagValue,
  labelValue,
  registryUserValue,
  registryValue,
  releaseIdValue,
  serverPathValue,
} from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

// --- release files -----------------------------------------------------------------------

export function releaseEnvText(
  env: EnvironmentSettings,
  images: ReleaseImages,
  labels: { version?: string; commit?: string },
): string {
  const entries: [string, string | number][] = [
    ["BACKEND_IMAGE", digestRefValue(images.backendImage, "backend image")],
    ["FRONTEND_IMAGE", digestRefValue(images.frontendImage, "frontend image")],
    ["BACKEND_PORT", env.ports.backend],
    ["FRONTEND_PORT", env.ports.frontend],
  ];
  if (env.ports.https !== undefined) entries.push(["HTTPS_PORT", env.ports.https]);
  // With tls settings the certificate's first name is the site's (over the server's .env).
  entries.push(...tlsEnvEntries(env));
  if (labels.version) entries.push(["APP_VERSION", labelValue(labels.version, "version")]);
  if (labels.commit) entries.push(["GIT_COMMIT", labelValue(labels.commit, "commit")]);
  return envFileText(entries);
}

function writeFileLines(path: string, content: string): string {
  return `printf '%s' ${q(content)} > ${q(path)}`;
}

/** Writes the compose files and release.env of a release into its own directory. */
export function uploadRelease(
  env: EnvironmentSettings,
  id: string,
  files: ReleaseFile[],
  releaseEnv: string,
): RemoteCommand {
  const dir = serverPaths(env).release(id);
  for (const file of files) fileNameValue(file.name, "release file");
  return {
    step: "upload",
    description: `upload release ${id}: ${files.map((f) => f.name).join(", ")}, release.env`,
    timeoutMs: 60 * SECOND,
    script: script([
      `rm -rf ${q(dir)}`,
      `mkdir -p ${q(dir)}`,
      ...files.map((file) => writeFileLines(`${dir}/${file.name}`, file.content)),
      writeFileLines(`${dir}/release.env`, releaseEnv),
      `ls -1 ${q(dir)}`,
    ]),
  };
}

// --- images ------------------------------------------------------------------------------

/** Logging in to the image registries for one step (the password arrives on stdin). */
export interface RegistryLogin {
  username: string;
  password: string;
}

/**
 * Lines that log in to `registries` for the rest of the script, with the password read from
 * stdin, and log out again when the script ends however it ends, so the server's
 * ~/.docker/config.json does not keep the token.
 */
function loginForThisStep(registries: string[], username: string): string[] {
  registries.forEach((r) => registryValue(r));
  registryUserValue(username);
  return [
    `registries=(${registries.map(q).join(" ")})`,
    `IFS= read -r -d '' password || true`,
    `logout() { for r in "\${registries[@]}"; do docker logout "$r" >/dev/null 2>&1 || true; done; echo "logged out of \${registries[*]}"; }`,
    `trap logout EXIT`,
    `for r in "\${registries[@]}"; do printf '%s' "$password" | docker login --username ${q(username)} --password-stdin "$r"; done`,
    `unset password`,
  ];
}

function registriesOf(refs: string[]): string[] {
  return [...new Set(refs.map(registryOf))];
}

const labelOf = (image: string, label: string): string =>
  `docker image inspect --format ${q(`{{ index .Config.Labels "${label}" }}`)} ${q(image)}`;

/**
 * Pulls both images and reports the version and commit labels of the backend image (the
 * upload writes them into the release's release.env, unless the caller gave its own).
 */
export function pullImages(
  env: EnvironmentSettings,
  images: ReleaseImages,
  login?: RegistryLogin,
  /**
   * Also say how many migrations the backend image ships that the live database lacks. Given
   * the operation, that read waits first for what an interrupted one left running (a restore
   * or migration half-way would give a wrong count): the pull can then run beside preflight.
   */
  pendingIn?: { migrationsDir: string; operation?: string },
): RemoteCommand {
  checkEnvironmentFields(env);
  digestRefValue(images.backendImage, "backend image");
  digestRefValue(images.frontendImage, "frontend image");
  const registries = registriesOf([images.backendImage, images.frontendImage]);
  return {
    step: "pull",
    description: `pull the backend and frontend images${login ? ` (docker login to ${registries.join(", ")} as ${login.username}, password on stdin; logout after)` : ""}`,
    timeoutMs: 20 * MINUTE,
    ...(login ? { stdin: login.password } : {}),
    script: script([
      ...(login ? loginForThisStep(registries, login.username) : []),
      // Side by side: each pull mostly waits on the registry.
      `docker pull --quiet ${q(images.frontendImage)} & frontend_pull=$!`,
      `docker pull --quiet ${q(images.backendImage)}`,
      `wait "$frontend_pull"`,
      ...(pendingIn?.operation
        ? waitForLeftoversLines(env, pendingIn.operation, { say: false })
        : []),
      ...(pendingIn ? pendingLines(env, images.backendImage, pendingIn.migrationsDir) : []),
      `clean() { case "$1" in "<no value>") echo "";; *) echo "$1";; esac; }`,
      `version=$(clean "$(${labelOf(images.backendImage, "org.opencontainers.image.version")})")`,
      `commit=$(clean "$(${labelOf(images.backendImage, "org.opencontainers.image.revision")})")`,
      `echo "version=$version"`,
      `echo "commit=$commit"`,
    ]),
  };
}

/** Prints pending=N (or pending=unknown) for the live database: a read, nothing changes. */
function pendingLines(env: EnvironmentSettings, image: string, migrationsDir: string): string[] {
  serverPathValue(`/${migrationsDir}`, "migrationsDir");
  return [
    serviceContainer(env, "db", "db"),
    ...MYSQL_CLIENT,
    ...PENDING_MIGRATIONS,
    `pending_migrations ${q(image)} ${q(migrationsDir)} "$db"`,
    `if [ -z "$shipped" ]; then echo "pending=unknown"; else echo "pending=$(grep -c . <<<"$pending_names" || true) shipped=$(grep -c . <<<"$shipped")"; fi`,
  ];
}

/**
 * Resolves a tag (what CI published for a branch, e.g. develop) to the digests the registry
 * serves now, on the server that will pull them: prints backend=<repo>/backend@sha256:… and
 * frontend=… lines. Pulling changes no live state.
 */
export function resolveTag(repository: string, tag: string, login?: RegistryLogin): RemoteCommand {
  imageRepositoryValue(repository);
  imageTagValue(tag);
  const registries = registriesOf([`${repository}/backend`]);
  return {
    step: "resolve",
    description: `resolve ${repository}/{backend,frontend}:${tag} to digests${login ? ` (docker login to ${registries.join(", ")}; logout after)` : ""}`,
    timeoutMs: 20 * MINUTE,
    ...(login ? { stdin: login.password } : {}),
    script: script([
      ...(login ? loginForThisStep(registries, login.username) : []),
      `tag=${q(tag)}`,
      `for component in backend frontend; do`,
      `  name=${q(repository)}/"$component"`,
      `  docker pull --quiet "$name:$tag" >/dev/null`,
      `  digest=$(docker image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$name:$tag" | grep -F "$name@sha256:" | head -n 1 || true)`,
      `  [ -n "$digest" ] || { echo "$name:$tag has no digest from its registry" >&2; exit 1; }`,
      `  echo "$component=$digest"`,
      `done`,
    ]),
  };
}

// --- migrate, switch, up -----------------------------------------------------------------

/**
 * Runs the migrate command in a one-off container of the NEW backend image, before switching.
 * `backupBefore`, when migrations are pending, is recorded as the backup retention keeps.
 */
export function migrate(
  env: EnvironmentSettings,
  id: string,
  backupBefore?: string,
): RemoteCommand {
  releaseIdValue(id);
  if (backupBefore !== undefined) backupNameValue(backupBefore);
  const staged = composeCommand(env, `${STATE_DIR_NAME}/releases/${id}`);
  return {
    step: "migrate",
    description: `${env.migrateCommand.join(" ")} with the new backend image`,
    timeoutMs: 15 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `mkdir -p backend/uploads backend/logs`,
      ...(backupBefore
        ? [`printf '%s\\n' ${q(backupBefore)} > ${q(serverPaths(env).backupBeforeMigration)}`]
        : []),
      `${staged} up -d --wait db`,
      `${staged} run --rm --no-deps -T backend ${env.migrateCommand.map(q).join(" ")}`,
    ]),
  };
}

/**
 * Saves the live files (for a rollback), copies release `id`'s files into the app dir and
 * points `current` at it. A first deploy saves an empty set, so a rollback knows.
 */
export function switchRelease(env: EnvironmentSettings, id: string): RemoteCommand {
  const p = serverPaths(env);
  const live = [...env.composeFiles, "release.env"];
  return {
    step: "switch",
    description: `make release ${id} the live one (live files saved for a rollback)`,
    timeoutMs: 30 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `rm -rf ${q(p.rollback)} && mkdir -p ${q(p.rollback)}`,
      `for f in ${live.map(q).join(" ")}; do [ ! -f "$f" ] || cp -p "$f" ${q(`${p.rollback}/`)}; done`,
      `cp ${q(p.current)} ${q(`${p.rollback}/current`)} 2>/dev/null || true`,
      `for f in ${live.map(q).join(" ")}; do cp ${q(`${p.release(id)}/`)}"$f" "$f.next" && mv "$f.next" "$f"; done`,
      // A rollback's target may predate the environment's tls settings.
      ...keepEnvironmentTls(env),
      `printf '%s\\n' ${q(id)} > ${q(p.current)}`,
      `echo ${q(`live=${id}`)}`,
    ]),
  };
}

export function composeUp(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "up",
    description: "docker compose up -d",
    timeoutMs: 10 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `mkdir -p backend/uploads backend/logs`,
      `${composeCommand(env)} up -d --remove-orphans`,
    ]),
  };
}

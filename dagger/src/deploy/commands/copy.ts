// The throwaway copy of the database that the restore proof loads a backup into and the
// rehearsal migrates: a container of the live database's own image, with its own volume, no
// network (not even the compose one) and a label naming the environment's project, so that
// whatever run leaves one behind, the next operation finds and removes it (removeCopiesLines).
//
// A copy starts from a template: a volume holding a database initialised once by that image
// with the live database's name, user and password (and a root password of its own). Copying
// those files and starting the server on them takes about a second; initialising a new data
// dir (what the image's entrypoint does on an empty volume) takes several, on every proof.
import { q, script, MINUTE, type RemoteCommand } from "./shared.js";
import { checkEnvironmentFields, markValue } from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

/** The label every copy (container and volume) and rehearsal container carries. */
export const COPY_LABEL = "qgo.copy";
/** The label of the template volume (never removed with the copies: it is reused). */
export const COPY_TEMPLATE_LABEL = "qgo.copy-template";
/** How long the copy (or the template) may take to start (beyond that the server is too slow). */
const COPY_READY_SECONDS = 180;
/** The file that marks a template as complete (a run killed while making it leaves none). */
const TEMPLATE_READY = "qgo-template-ready";

/** The copy's container and volume name for one operation. */
export function copyName(env: EnvironmentSettings, operation: string): string {
  checkEnvironmentFields(env);
  return `qgo-copy-${env.project}-${markValue(operation)}`;
}

/** The template volume of an environment's copies. */
export function copyTemplateName(env: EnvironmentSettings): string {
  checkEnvironmentFields(env);
  return `qgo-copy-template-${env.project}`;
}

/** Removes every copy of this environment's project: containers first, then their volumes. */
export function removeCopiesLines(env: EnvironmentSettings): string[] {
  checkEnvironmentFields(env);
  const label = q(`label=${COPY_LABEL}=${env.project}`);
  return [
    `for c in $(docker ps -aq --filter ${label}); do docker rm -f "$c" >/dev/null 2>&1 || true; echo "removed copy container $c"; done`,
    `for v in $(docker volume ls -q --filter ${label}); do docker volume rm "$v" >/dev/null 2>&1 || true; echo "removed copy volume $v"; done`,
  ];
}

export function removeCopies(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "remove-copy",
    description: `remove the throwaway database copies of ${env.project}`,
    timeoutMs: 2 * MINUTE,
    script: script(removeCopiesLines(env)),
  };
}

/**
 * Shell functions (after MYSQL_CLIENT; $image is the live database's image id and
 * MYSQL_DATABASE, MYSQL_USER and MYSQL_PASSWORD the live ones, exported):
 *
 * - `start_copy NAME` starts copy NAME (container and volume) from the template, making the
 *   template first when there is none, or one of another image, name, user or password, or an
 *   incomplete one. Sets and exports MYSQL_ROOT_PASSWORD (the template's root password; the
 *   copy's container carries it too, as the live one does). Prints copy_template=made|reused.
 * - `wait_database CONTAINER WHAT` returns once the container's server answers on TCP (the
 *   first-start temporary server of the image serves its socket only); fails when the
 *   container stops or takes over COPY_READY_SECONDS.
 */
export function copyStartLines(env: EnvironmentSettings): string[] {
  checkEnvironmentFields(env);
  const copyLabel = q(`${COPY_LABEL}=${env.project}`);
  const templateLabel = q(`${COPY_TEMPLATE_LABEL}=${env.project}`);
  const template = q(copyTemplateName(env));
  // Values reach docker through the environment, not its arguments.
  const dbEnv = `-e MYSQL_DATABASE -e MYSQL_USER -e MYSQL_PASSWORD -e MYSQL_ROOT_PASSWORD`;
  return [
    `wait_database() {`,
    `  local started=$SECONDS`,
    `  until docker exec "$1" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mysqladmin ping -h 127.0.0.1 -uroot --silent' >/dev/null 2>&1; do`,
    `    [ "$(docker inspect --format '{{.State.Running}}' "$1")" = true ] || { docker logs --tail 20 "$1" >&2; echo "$2 stopped while starting" >&2; return 1; }`,
    `    [ $((SECONDS - started)) -lt ${COPY_READY_SECONDS} ] || { echo "$2 did not start within ${COPY_READY_SECONDS} s" >&2; return 1; }`,
    `    sleep 0.1`,
    `  done`,
    `}`,
    // The key names what the template was made of; salted with its own root password, it
    // says nothing of the live password.
    `template_key() { printf '%s\\n' "$1" "$image" "$MYSQL_DATABASE" "$MYSQL_USER" "$MYSQL_PASSWORD" | sha256sum | cut -c1-64; }`,
    `template_label() { docker volume inspect --format "{{index .Labels \\"$1\\"}}" ${template} 2>/dev/null || true; }`,
    `make_template() {`,
    `  docker volume rm -f ${template} >/dev/null 2>&1 || true`,
    `  MYSQL_ROOT_PASSWORD=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \\n')`,
    `  docker volume create --label ${templateLabel} --label "qgo.copy-root=$MYSQL_ROOT_PASSWORD" --label "qgo.copy-key=$(template_key "$MYSQL_ROOT_PASSWORD")" ${template} >/dev/null`,
    // The image initialises the data dir as it does the live one's; stopped cleanly, it is whole.
    `  docker run -d --name ${template} --label ${copyLabel} --network none -v ${template}:/var/lib/mysql ${dbEnv} "$image" >/dev/null`,
    `  wait_database ${template} "the copy's database" || { docker rm -f ${template} >/dev/null 2>&1; return 1; }`,
    `  docker exec ${template} touch /var/lib/mysql/${TEMPLATE_READY}`,
    `  docker stop ${template} >/dev/null && docker rm ${template} >/dev/null`,
    `}`,
    // A new volume with the template's files, but for the mark; fails on an incomplete template.
    `fill_copy() {`,
    `  docker volume create --label ${copyLabel} "$1" >/dev/null`,
    `  docker run --rm --label ${copyLabel} --network none -v ${template}:/template:ro -v "$1:/copy" --entrypoint sh "$image" -c 'test -e /template/${TEMPLATE_READY} && cp -a /template/. /copy/ && rm /copy/${TEMPLATE_READY}' 2>/dev/null`,
    `}`,
    `start_copy() {`,
    `  MYSQL_ROOT_PASSWORD=$(template_label qgo.copy-root)`,
    `  export MYSQL_ROOT_PASSWORD`,
    `  if [ -n "$MYSQL_ROOT_PASSWORD" ] && [ "$(template_label qgo.copy-key)" = "$(template_key "$MYSQL_ROOT_PASSWORD")" ] && fill_copy "$1"; then`,
    `    echo "copy_template=reused"`,
    `  else`,
    `    docker volume rm -f "$1" >/dev/null 2>&1 || true`,
    `    make_template || return 1`,
    `    fill_copy "$1" || { echo "the copy's database template cannot be copied" >&2; return 1; }`,
    `    echo "copy_template=made"`,
    `  fi`,
    `  docker run -d --name "$1" --label ${copyLabel} --network none -v "$1:/var/lib/mysql" ${dbEnv} "$image" >/dev/null`,
    `  wait_database "$1" "the copy's database"`,
    `}`,
  ];
}

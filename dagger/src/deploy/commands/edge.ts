// The edge: one long-lived nginx container holds the published ports and passes every new
// connection to the serving release's containers, so a release is switched without a gap.
// Each release's backend and frontend start beside the serving ones under the other "color"
// (blue or green: a label and a network alias, backend-green, frontend-green), must turn
// healthy, then the edge is pointed at them with a graceful reload (old workers finish their
// connections, new ones go to the new color) and the old containers drain and stop.
//
// The edge passes TCP (nginx's stream module), not HTTP: the frontend keeps serving TLS with
// the certificates mounted as before, and nothing about a request changes on its way. Its
// configuration lives in the app dir's edge/ (written here, never by hand): nginx.conf and
// active.conf, which names the serving color. A server deployed before the edge existed has
// no edge/: its containers hold the ports, so the first route stops them and starts the edge
// (the one short gap, measured in the README).
import { q, script, SECOND, MINUTE, composeCommand, type RemoteCommand } from "./shared.js";
import { checkEnvironmentFields } from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

/** The label (and alias suffix) that tells the two sets of app containers apart. */
export const COLOR_LABEL = "qgo.color";
export const COLORS = ["blue", "green"] as const;
export type Color = (typeof COLORS)[number];

/** Where the edge's configuration sits, relative to the app dir (compose mounts it). */
export const EDGE_DIR = "edge";

/** How long an app container may take to turn healthy before a deploy gives up on it. */
const START_SECONDS = 240;
/**
 * How long, at most, the old containers keep running after the switch for connections under
 * way: retire stops them as soon as the edge's workers from before the switch have ended
 * (their connections closed), and after this time at the latest (a browser's idle keep-alive
 * connection would hold them up to nginx's worker_shutdown_timeout; it reconnects).
 */
const DRAIN_SECONDS = 2;

/**
 * The edge's nginx.conf. `include modules-enabled` loads Debian's stream module (the official
 * image has it built in, and the glob then matches nothing). Names are resolved through
 * Docker's DNS per connection, so the edge starts and reloads whatever runs.
 */
export const EDGE_NGINX_CONF = `# Written by the deploy (qgo-pipeline); do not edit: the next deploy rewrites it.
# The edge holds the published ports and passes each new connection to the serving color's
# containers (active.conf). Reloaded gracefully at every switch.
worker_processes 1;
error_log stderr warn;
pid /tmp/qgo-edge.pid;
include /etc/nginx/modules-enabled/*.conf;
# Connections opened before a switch end on the old containers within this time.
worker_shutdown_timeout 30s;

events {
    worker_connections 4096;
}

stream {
    resolver 127.0.0.11 valid=5s ipv6=off;
    resolver_timeout 2s;
    proxy_connect_timeout 3s;
    include /etc/qgo-edge/active.conf;

    server {
        listen 80;
        proxy_pass frontend-$qgo_color:80;
    }
    server {
        listen 443;
        proxy_pass frontend-$qgo_color:443;
    }
    server {
        listen 5000;
        proxy_pass backend-$qgo_color:5000;
    }
}
`;

/** The edge's active.conf for a color: what `route` writes. */
export const activeConf = (color: Color) =>
  `# Written by the deploy: the color whose containers serve.\nmap $protocol $qgo_color { default ${color}; }\n`;

/** Shell line writing active.conf for the color in shell variable `$variable` (checked). */
const writeActive = (variable: string) =>
  `case "${variable}" in blue) printf '%s' ${q(activeConf("blue"))} ;; green) printf '%s' ${q(activeConf("green"))} ;; *) exit 1 ;; esac > ${EDGE_DIR}/active.conf.next && mv ${EDGE_DIR}/active.conf.next ${EDGE_DIR}/active.conf`;

/**
 * Shell function `probe CONTAINER`: runs the container's own health check (its image's or
 * compose's HEALTHCHECK, CMD or CMD-SHELL) now, rather than waiting for Docker to run it
 * (first after one interval, 5 s).
 */
export const HEALTH_PROBE = [
  `probe() {`,
  `  local -a test`,
  `  mapfile -d '' test < <(docker inspect --format '{{range .Config.Healthcheck.Test}}{{.}}{{"\\x00"}}{{end}}' "$1")`,
  // (docker inspect ends its output with a newline: not an argument of the check)
  `  [ "\${#test[@]}" -eq 0 ] || [ "\${test[-1]}" != $'\\n' ] || unset 'test[-1]'`,
  `  case "\${test[0]:-}" in`,
  `    CMD) timeout 5 docker exec "$1" "\${test[@]:1}" >/dev/null 2>&1 ;;`,
  `    CMD-SHELL) timeout 5 docker exec "$1" sh -c "\${test[1]}" >/dev/null 2>&1 ;;`,
  `    *) return 1 ;;`,
  `  esac`,
  `}`,
];

/**
 * Run by sh inside the edge: the configuration check, the pids of the nginx workers serving
 * now (as /proc paths, on stdout), the graceful reload. nginx reports a signalled reload as a
 * [notice] on stderr: only what is not is shown, and the reload's own exit status is kept.
 */
const RELOAD_IN_EDGE = [
  "nginx -c /etc/qgo-edge/nginx.conf -t -q || exit",
  'grep -l "nginx: worker process" /proc/[0-9]*/cmdline 2>/dev/null',
  "out=$(nginx -c /etc/qgo-edge/nginx.conf -s reload 2>&1); rc=$?",
  'printf "%s\\n" "$out" | grep -v "\\[notice\\]" | grep . >&2',
  'exit "$rc"',
].join("; ");

/** Shell functions the edge's scripts share; they run in the app dir. */
function edgeFunctions(env: EnvironmentSettings): string[] {
  checkEnvironmentFields(env);
  const project = q(`label=com.docker.compose.project=${env.project}`);
  return [
    // The app containers (backend, frontend) of this project, in any state; extra filters follow.
    `# shellcheck disable=SC2120 # the filters are optional`,
    `app_containers() { local s; for s in frontend backend; do docker ps -aq --filter ${project} --filter "label=com.docker.compose.service=$s" "$@"; done; }`,
    `edge_container() { docker ps -q --filter ${project} --filter label=com.docker.compose.service=edge | head -n 1; }`,
    // The serving color, as the edge was last told (none before the edge existed).
    `active_color() { sed -n 's/.*default \\(blue\\|green\\);.*/\\1/p' ${EDGE_DIR}/active.conf 2>/dev/null | head -n 1 | grep . || echo none; }`,
    `color_of() { docker inspect --format '{{index .Config.Labels "${COLOR_LABEL}"}}' "$1"; }`,
    ...HEALTH_PROBE,
    // One docker exec: the check, the workers from before the reload (they end with their last
    // connection; written down for retire in edge/draining), the reload. What the edge loaded
    // is noted (edge/loaded), so that start reloads it only when a run was killed before that.
    `reload_edge() {`,
    `  docker exec "$1" sh -c ${q(RELOAD_IN_EDGE)} | sed -n 's|^/proc/\\([0-9]*\\)/cmdline$|\\1|p' > ${EDGE_DIR}/draining.next`,
    `  mv ${EDGE_DIR}/draining.next ${EDGE_DIR}/draining`,
    `  { cat ${EDGE_DIR}/nginx.conf ${EDGE_DIR}/active.conf 2>/dev/null || true; } > ${EDGE_DIR}/loaded`,
    `}`,
    `edge_loaded() { cat ${EDGE_DIR}/nginx.conf ${EDGE_DIR}/active.conf 2>/dev/null | cmp -s - ${EDGE_DIR}/loaded; }`,
  ];
}

/**
 * Starts the live release's backend and frontend beside the serving ones, under the color
 * the edge does not serve, and waits until they pass their own health check. What a killed run
 * left of that color (never served) and stopped app containers are removed first. The live
 * release.env gets QGO_COLOR, so a plain `docker compose up -d` later keeps these containers.
 */
export function startRelease(env: EnvironmentSettings): RemoteCommand {
  const compose = composeCommand(env);
  const label = COLOR_LABEL;
  return {
    step: "start",
    description: `start the release's backend and frontend beside the serving ones (the other color) and wait until they are healthy`,
    timeoutMs: START_SECONDS * SECOND + 2 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      ...edgeFunctions(env),
      `mkdir -p backend/uploads backend/logs ${EDGE_DIR}`,
      // Read whole, then searched: grep -q stopping early would fail compose with SIGPIPE, and
      // pipefail would take that for "no edge".
      `services=$(${compose} config --services)`,
      `if ! grep -qx edge <<<"$services"; then`,
      // A release from before the edge (e.g. rolled back to): its containers hold the ports
      // themselves, so it is served the old way, recreated in place (a short gap).
      `  rm -f ${EDGE_DIR}/active.conf`,
      `  ${compose} up -d --remove-orphans --wait`,
      `  echo "started=in place (a release from before the edge: its containers hold the ports)"`,
      `  exit 0`,
      `fi`,
      `active=$(active_color)`,
      // A run killed between writing active.conf and the reload: the edge catches up first.
      `edge=$(edge_container)`,
      `[ "$active" = none ] || [ -z "$edge" ] || edge_loaded || reload_edge "$edge"`,
      `if [ "$active" = blue ]; then new=green; else new=blue; fi`,
      `mapfile -t idle < <(app_containers --filter "label=${label}=$new"; app_containers --filter status=exited; app_containers --filter status=created)`,
      `if [ "\${#idle[@]}" -gt 0 ]; then docker rm -f "\${idle[@]}" >/dev/null; echo "removed \${#idle[@]} idle app container(s)"; fi`,
      `{ grep -v '^QGO_COLOR=' release.env || true; echo "QGO_COLOR=$new"; } > release.env.next && mv release.env.next release.env`,
      `running() { docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter "label=com.docker.compose.service=$1" | grep -c . || true; }`,
      `backends=$(( $(running backend) + 1 )) frontends=$(( $(running frontend) + 1 ))`,
      `started=$SECONDS`,
      `wait_healthy() {`,
      `  local name`,
      `  name=$(docker inspect --format '{{.Name}}' "$1")`,
      `  while :; do`,
      `    health=$(docker inspect --format '{{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$1")`,
      `    case "$health" in`,
      `      "running healthy" | "running none") return 0 ;;`,
      // Docker's first check comes an interval after the start: the check is run at once.
      `      running\\ starting) ! probe "$1" || return 0 ;;`,
      `      *) echo "container \${name#/} is $health:" >&2; docker logs --tail 20 "$1" >&2 2>&1 || true; exit 1 ;;`,
      `    esac`,
      `    if [ $((SECONDS - started)) -ge ${START_SECONDS} ]; then echo "container \${name#/} did not turn healthy within ${START_SECONDS} s" >&2; docker logs --tail 20 "$1" >&2 2>&1 || true; exit 1; fi`,
      `    sleep 0.2`,
      `  done`,
      `}`,
      // Not --wait: compose polls every half second, where the check runs at once here.
      `${compose} up -d db`,
      `for c in $(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter label=com.docker.compose.service=db); do wait_healthy "$c"; done`,
      // --no-recreate keeps the serving containers as they are; the scale adds one of each
      // with the new release's settings (image, color).
      `${compose} up -d --no-deps --no-recreate --scale "backend=$backends" --scale "frontend=$frontends" backend frontend`,
      `mapfile -t fresh < <(app_containers --filter "label=${label}=$new")`,
      `[ "\${#fresh[@]}" -ge 2 ] || { echo "the new containers ($new) were not created" >&2; exit 1; }`,
      `for c in "\${fresh[@]}"; do wait_healthy "$c"; done`,
      `echo "started=$new in $((SECONDS - started)) s"`,
    ]),
  };
}

/**
 * Points the edge at the color startRelease started: active.conf is rewritten and the edge
 * reloaded gracefully (it checks the configuration first; a bad one leaves it serving as
 * before). Without a running edge (a server
 * deployed before it existed), the old containers that hold the ports stop and the edge
 * starts in their place.
 */
export function routeTraffic(env: EnvironmentSettings): RemoteCommand {
  const compose = composeCommand(env);
  return {
    step: "route",
    description: "move the traffic to the new containers (the edge reloads gracefully)",
    timeoutMs: 2 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      ...edgeFunctions(env),
      `edge=$(edge_container)`,
      // A running edge means the live compose files have one (start removes it otherwise).
      `if [ -z "$edge" ]; then`,
      `  services=$(${compose} config --services)`,
      `  if ! grep -qx edge <<<"$services"; then echo "routed=none (a release from before the edge holds the ports)"; exit 0; fi`,
      `fi`,
      `new=$(sed -n 's/^QGO_COLOR=//p' release.env | tail -n 1)`,
      `case "$new" in blue | green) ;; *) echo "release.env names no color (QGO_COLOR): step start did not run" >&2; exit 1 ;; esac`,
      `mkdir -p ${EDGE_DIR}`,
      `printf '%s' ${q(EDGE_NGINX_CONF)} > ${EDGE_DIR}/nginx.conf.next && mv ${EDGE_DIR}/nginx.conf.next ${EDGE_DIR}/nginx.conf`,
      writeActive("$new"),
      `if [ -n "$edge" ]; then`,
      `  reload_edge "$edge"`,
      `  echo "routed=$new (graceful reload)"`,
      `else`,
      // The old layout: its containers publish the ports the edge needs.
      // The edge is created first (its image pulled if need be), so the gap is a stop and a start.
      `  ${compose} up --no-start --no-deps edge`,
      `  mapfile -t holders < <(app_containers --filter status=running | while read -r c; do [ "$(color_of "$c")" = "$new" ] || echo "$c"; done)`,
      `  gap_start=$(date +%s%N)`,
      `  [ "\${#holders[@]}" -eq 0 ] || docker stop "\${holders[@]}" >/dev/null`,
      `  ${compose} start edge`,
      `  echo "routed=$new (edge started; the old containers stopped $(( ($(date +%s%N) - gap_start) / 1000000 )) ms before)"`,
      `fi`,
    ]),
  };
}

/**
 * Stops and removes the app containers the edge no longer serves, after the connections
 * under way have had time to end: the frontend first (it proxies to its own backend).
 */
export function retireOld(env: EnvironmentSettings): RemoteCommand {
  return {
    step: "retire",
    description: `stop the containers the edge no longer serves, once the connections under way have ended (at most ${DRAIN_SECONDS} s)`,
    timeoutMs: 2 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      ...edgeFunctions(env),
      `active=$(active_color)`,
      `[ "$active" != none ] || { echo "retired=0 (no edge: nothing runs beside the release)"; exit 0; }`,
      // The app's containers of another color than the active one: one docker ps, no inspect.
      `not_active() { local s; for s in frontend backend; do docker ps -a --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter "label=com.docker.compose.service=$s" --format '{{.ID}} {{.Label "${COLOR_LABEL}"}}'; done | awk -v active="$active" '$2 != active { print $1 }'; }`,
      `retired=0`,
      `mapfile -t old < <(not_active)`,
      `if [ "\${#old[@]}" -gt 0 ]; then`,
      // Until the edge's workers from before the switch have ended (all their connections
      // closed), at most DRAIN_SECONDS; without the list (a server's first edge), the whole time.
      `  edge=$(edge_container)`,
      `  mapfile -t draining < <(cat ${EDGE_DIR}/draining 2>/dev/null || true)`,
      `  drain_start=$(date +%s%N) drain_end=$(( $(date +%s%N) + ${DRAIN_SECONDS} * 1000000000 ))`,
      `  if [ -n "$edge" ] && [ "\${#draining[@]}" -gt 0 ]; then`,
      `    while docker exec "$edge" sh -c 'for p in "$@"; do ! grep -qs "nginx: worker process" "/proc/$p/cmdline" || exit 0; done; exit 1' sh "\${draining[@]}" && [ "$(date +%s%N)" -lt "$drain_end" ]; do sleep 0.05; done`,
      `  else`,
      `    sleep ${DRAIN_SECONDS}`,
      `  fi`,
      `  rm -f ${EDGE_DIR}/draining`,
      `  echo "drained in $(( ($(date +%s%N) - drain_start) / 1000000 )) ms"`,
      // Stopped together (dockerd stops them in parallel): no connection reaches them any more.
      `  docker stop "\${old[@]}" >/dev/null && docker rm "\${old[@]}" >/dev/null`,
      `  retired=\${#old[@]}`,
      `fi`,
      `echo "retired=$retired (serving: $active)"`,
    ]),
  };
}

/**
 * The automatic rollback's way back: the edge serves the other color again (its containers
 * still run: retire had not happened) and the failed release's containers (the color the
 * live release.env names) are removed. When the route had started the edge in place of the
 * old layout's containers, the edge goes and those containers start again. Runs before the
 * previous release's files are put back.
 */
export function routeBack(env: EnvironmentSettings): RemoteCommand {
  const compose = composeCommand(env);
  return {
    step: "route-back",
    description: "point the edge back at the containers that served before, remove the new ones",
    timeoutMs: 2 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      ...edgeFunctions(env),
      `failed=$(sed -n 's/^QGO_COLOR=//p' release.env 2>/dev/null | tail -n 1)`,
      `case "$failed" in blue) old=green ;; green) old=blue ;; *) echo "release.env names no color: nothing was started" ; exit 0 ;; esac`,
      `edge=$(edge_container)`,
      `if [ -n "$(app_containers --filter status=running --filter "label=${COLOR_LABEL}=$old")" ]; then`,
      writeActive("$old").replace(/^/, "  "),
      `  [ -z "$edge" ] || reload_edge "$edge"`,
      `  echo "routed back to $old"`,
      `else`,
      // The first route on this server started the edge: the old layout comes back.
      `  rm -f ${EDGE_DIR}/active.conf`,
      `  ${compose} rm -sf edge >/dev/null 2>&1 || { [ -z "$edge" ] || docker rm -f "$edge" >/dev/null; }`,
      `  mapfile -t legacy < <(app_containers | while read -r c; do [ -n "$(color_of "$c")" ] || echo "$c"; done)`,
      `  [ "\${#legacy[@]}" -eq 0 ] || docker start "\${legacy[@]}" >/dev/null`,
      `  echo "routed back to the containers that served before the edge"`,
      `fi`,
      `mapfile -t discarded < <(app_containers --filter "label=${COLOR_LABEL}=$failed")`,
      `[ "\${#discarded[@]}" -eq 0 ] || docker rm -f "\${discarded[@]}" >/dev/null`,
      `echo "removed \${#discarded[@]} container(s) of the failed release ($failed)"`,
    ]),
  };
}

// What is checked and read on the server: preflight before anything changes, the health
// checks after the switch, the status report and the app's recent logs.
import {
  q,
  script,
  SECOND,
  serverPaths,
  serviceContainer,
  composeCommand,
  type RemoteCommand,
} from "./shared.js";
import { certificateStatusLines } from "./certificates.js";
import { leftoverStatusLines } from "./leftovers.js";
import { checkEnvironmentFields, labelValue, markValue, UnsafeValueError } from "./values.js";
import type { EnvironmentSettings } from "../environments.js";

// --- preflight ---------------------------------------------------------------------------

export function preflight(env: EnvironmentSettings): RemoteCommand {
  const p = serverPaths(env);
  return {
    step: "preflight",
    description: "check Docker, Compose v2, curl, server .env, free disk and the database",
    timeoutMs: 60 * SECOND,
    script: script([
      `fail() { echo "preflight: $*" >&2; exit 1; }`,
      `command -v docker >/dev/null || fail "docker is not installed"`,
      `server=$(docker version --format '{{.Server.Version}}' 2>/dev/null) || fail "the Docker daemon does not answer"`,
      `echo "docker=$server"`,
      `compose=$(docker compose version --short 2>/dev/null) || fail "Docker Compose v2 (docker compose) is not installed"`,
      `case "$compose" in v2.*|2.*|v3.*|3.*|v4.*|4.*) ;; *) fail "Docker Compose v2 needed, found $compose";; esac`,
      `echo "compose=$compose"`,
      `command -v curl >/dev/null || fail "curl is not installed (health checks use it)"`,
      `[ -d ${q(env.appDir)} ] || fail ${q(`app dir ${env.appDir} does not exist`)}`,
      `[ -f ${q(`${env.appDir}/.env`)} ] || fail ${q(`server secrets file ${env.appDir}/.env is missing`)}`,
      `mkdir -p ${q(env.backupsDir)} ${q(p.releases)}`,
      `free_mb=$(( $(df -Pk ${q(env.backupsDir)} | awk 'NR==2 {print $4}') / 1024 ))`,
      `echo "free_mb=$free_mb"`,
      `[ "$free_mb" -ge ${q(env.minFreeDiskMb)} ] || fail "only $free_mb MB free for backups, need ${env.minFreeDiskMb} MB"`,
      serviceContainer(env, "db", "db"),
      `if [ -n "$db" ]; then`,
      `  docker exec "$db" sh -c 'MYSQL_PWD="$MYSQL_ROOT_PASSWORD" exec mysql -uroot -e "SELECT 1" "$MYSQL_DATABASE"' >/dev/null || fail "the database container runs but does not answer"`,
      `  echo "db=reachable"`,
      `else`,
      `  echo "db=absent"`,
      `fi`,
      `echo "current=$(cat ${q(p.current)} 2>/dev/null || echo none)"`,
      // The serving release's record too (base64: one line), so that no second read is needed.
      `id=$(cat ${q(p.current)} 2>/dev/null || true)`,
      `if grep -qxE '^r[0-9]{8}_[0-9]{6}_[0-9a-f]{6}$' <<<"$id" && [ -f ${q(`${p.releases}/`)}"$id/release.json" ]; then echo "current_record=$(base64 -w0 < ${q(`${p.releases}/`)}"$id/release.json")"; fi`,
    ]),
  };
}

// --- health ------------------------------------------------------------------------------

/**
 * Polls the backend's /health (status ok, and the expected version when known) and the
 * frontend's / with retries, a per-request timeout and exponential backoff.
 */
export function healthCheck(env: EnvironmentSettings, expectedVersion?: string): RemoteCommand {
  checkEnvironmentFields(env);
  if (expectedVersion !== undefined) labelValue(expectedVersion, "expected version");
  const h = env.health;
  const versionPattern = expectedVersion ? `"version":${JSON.stringify(expectedVersion)}` : "";
  // Worst case: every attempt times out and every wait is the longest one, for both URLs.
  const worstCaseSeconds = 2 * h.attempts * (h.timeoutSeconds + h.maxDelaySeconds) + 30;
  return {
    step: "health",
    description:
      `health checks (${h.attempts} attempts, backoff ${h.initialDelaySeconds}s..${h.maxDelaySeconds}s): ` +
      `${env.healthUrls.backend}${expectedVersion ? ` (version ${expectedVersion})` : ""}, ${env.healthUrls.frontend}`,
    timeoutMs: worstCaseSeconds * SECOND,
    script: script([
      `probe() { # url pattern`,
      `  local url=$1 pattern=$2 delay=${h.initialDelaySeconds} attempt body`,
      `  for attempt in $(seq 1 ${h.attempts}); do`,
      `    if body=$(curl -fsS --max-time ${h.timeoutSeconds} "$url" 2>&1); then`,
      `      if [ -z "$pattern" ] || tr -d '[:space:]' <<<"$body" | grep -qF -- "$pattern"; then`,
      `        echo "healthy: $url (attempt $attempt)"; return 0`,
      `      fi`,
      `      echo "attempt $attempt: $url answered but not as expected: $(head -c 300 <<<"$body")"`,
      `    else`,
      `      echo "attempt $attempt: $url: $(head -c 300 <<<"$body")"`,
      `    fi`,
      `    [ "$attempt" -lt ${h.attempts} ] || break`,
      `    sleep "$delay"`,
      `    delay=$(( delay * 2 > ${h.maxDelaySeconds} ? ${h.maxDelaySeconds} : delay * 2 ))`,
      `  done`,
      `  echo "UNHEALTHY: $url after ${h.attempts} attempts" >&2; return 1`,
      `}`,
      `probe ${q(env.healthUrls.backend)} ${q(`"status":"ok"`)}`,
      ...(versionPattern ? [`probe ${q(env.healthUrls.backend)} ${q(versionPattern)}`] : []),
      `probe ${q(env.healthUrls.frontend)} ''`,
    ]),
  };
}

export function statusReport(env: EnvironmentSettings, ownOperation: string): RemoteCommand {
  const p = serverPaths(env);
  markValue(ownOperation);
  return {
    step: "status",
    description: `what ${env.name} runs now, its health and its lock`,
    timeoutMs: 60 * SECOND,
    script: script([
      `echo "release: $(cat ${q(p.current)} 2>/dev/null || echo none)"`,
      `id=$(cat ${q(p.current)} 2>/dev/null || true)`,
      `[ -z "$id" ] || echo "release_json: $(cat ${q(`${p.releases}/`)}"$id/release.json" 2>/dev/null || echo '{}')"`,
      `echo "edge: $(sed -n 's/.*default \\(blue\\|green\\);.*/serving the \\1 containers/p' ${q(`${env.appDir}/edge/active.conf`)} 2>/dev/null | grep . || echo 'none (the app containers hold the ports)')"`,
      `echo "containers:"`,
      `mapfile -t ids < <(docker ps -aq --filter ${q(`label=com.docker.compose.project=${env.project}`)})`,
      `[ "\${#ids[@]}" -eq 0 ] || docker inspect --format '- {{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "qgo.color"}} {{.Config.Image}} {{.State.Status}}{{if .State.Health}} ({{.State.Health.Status}}){{end}}' "\${ids[@]}"`,
      `for url in ${q(env.healthUrls.backend)} ${q(env.healthUrls.frontend)}; do`,
      `  if out=$(curl -fsS --max-time ${env.health.timeoutSeconds} "$url" 2>&1); then echo "health: $url ok $(head -c 200 <<<"$out" | tr -d '\\n')"; else echo "health: $url FAILING $(head -c 200 <<<"$out")"; fi`,
      `done`,
      `if [ -d ${q(p.lock)} ]; then echo "lock: held"; sed 's/^/  /' ${q(p.lockInfo)} 2>/dev/null || true; else echo "lock: free"; fi`,
      ...leftoverStatusLines(env, ownOperation, p),
      // The appDir: compose's relative paths (the certbot service's) resolve from there.
      ...(env.tls ? [`cd ${q(env.appDir)}`, ...certificateStatusLines(env)] : []),
    ]),
  };
}

/** Services `logs` may name (the compose files' app services). */
export const LOG_SERVICES = ["backend", "frontend", "db"] as const;

/**
 * The app's recent container logs, redacted on the server before they leave it: every value of
 * the server's .env (six characters or longer) and any password in a URL become ***.
 */
export function appLogs(env: EnvironmentSettings, lines: number, service?: string): RemoteCommand {
  if (!Number.isInteger(lines) || lines < 1)
    throw new UnsafeValueError(`log lines ${lines} is not a count`);
  if (service !== undefined && !(LOG_SERVICES as readonly string[]).includes(service))
    throw new UnsafeValueError(
      `service ${JSON.stringify(service)} is not one of ${LOG_SERVICES.join(", ")}`,
    );
  const redactEnvValues = [
    `FILENAME == ARGV[1] {`,
    `  line = $0; sub(/^[ \\t]*export[ \\t]+/, "", line); at = index(line, "=")`,
    `  if (at > 1) { v = substr(line, at + 1); gsub(/^["']|["']$/, "", v); if (length(v) >= 6) secret[++n] = v }`,
    `  next`,
    `}`,
    `{ for (k = 1; k <= n; k++) while ((p = index($0, secret[k])) > 0) $0 = substr($0, 1, p - 1) "***" substr($0, p + length(secret[k])); print }`,
  ].join("\n");
  return {
    step: "logs",
    description: `the last ${lines} log lines of ${service ?? "every service"} in ${env.name} (redacted)`,
    timeoutMs: 60 * SECOND,
    script: script([
      `cd ${q(env.appDir)}`,
      `secrets=${q(`${env.appDir}/.env`)}; [ -f "$secrets" ] || secrets=/dev/null`,
      `${composeCommand(env)} logs --no-color --timestamps --tail ${q(lines)}${service ? ` ${q(service)}` : ""} 2>&1 \\`,
      `  | awk ${q(redactEnvValues)} "$secrets" - \\`,
      `  | sed -E 's#(://[^:/@[:space:]]+:)[^@[:space:]]+@#\\1***@#g'`,
    ]),
  };
}

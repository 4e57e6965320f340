// HTTPS certificates: obtained by a deploy with certbot (HTTP-01 through the frontend's webroot,
// the site's own port 80), renewed on the server by the compose service `certbot` without the
// pipeline, picked up by the frontend with a graceful nginx reload. A certificate that cannot
// be obtained never stops a deploy or the site: HTTP (and any certificate already there) keeps
// serving, and the deploy says why.
import { q, script, MINUTE, composeCommand, type RemoteCommand } from "./shared.js";
import { checkEnvironmentFields, envFileText } from "./values.js";
import type { EnvironmentSettings, TlsSettings } from "../environments.js";

/** Where certbot writes its HTTP-01 answers, relative to the app dir (compose mounts it). */
export const ACME_WEBROOT_DIR = "acme-challenge";

/** A certificate closer to its end than this is a warning in status, the report and Slack. */
export const CERTIFICATE_WARNING_DAYS = 14;

function tlsOf(env: EnvironmentSettings): TlsSettings {
  checkEnvironmentFields(env);
  if (!env.tls) throw new Error(`${env.name} has no tls settings`);
  return env.tls;
}

/** release.env's entries of the tls settings: the frontend's site name and the certbot image. */
export function tlsEnvEntries(env: EnvironmentSettings): [string, string][] {
  if (!env.tls) return [];
  return [
    ["TLS_DOMAIN", env.tls.domains[0]!],
    ["CERTBOT_IMAGE", env.tls.certbotImage],
  ];
}

/**
 * Lines, run in the app dir, that give the live release.env the environment's tls entries.
 * HTTPS belongs to the environment, not to a release: a rollback to a release deployed before
 * tls was set (or with other names) must go on serving the certificate that is there.
 */
export function keepEnvironmentTls(env: EnvironmentSettings): string[] {
  const entries = tlsEnvEntries(env);
  if (entries.length === 0) return [];
  return [
    `if [ -f release.env ]; then`,
    `  { grep -v -e '^TLS_DOMAIN=' -e '^CERTBOT_IMAGE=' release.env || true; printf '%s' ${q(envFileText(entries))}; } > release.env.tls && mv release.env.tls release.env`,
    `fi`,
  ];
}

/**
 * Shell function `cert_facts`: prints `certificate_names=…` (the names the certificate for the
 * first domain covers, sorted, space-separated; empty when there is none) and
 * `certificate_expires=…` (its notAfter, UTC) as certbot itself lists them, run in the certbot
 * image so that the server needs no openssl.
 */
export function certFactsLines(env: EnvironmentSettings): string[] {
  const tls = tlsOf(env);
  const compose = composeCommand(env);
  return [
    `cert_facts() {`,
    `  local listing id`,
    // In the renewal service's container when it runs (no new container), else a one-off one.
    `  id=$(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter label=com.docker.compose.service=certbot | head -n 1)`,
    `  if [ -n "$id" ]; then`,
    `    listing=$(docker exec "$id" certbot certificates --cert-name ${q(tls.domains[0]!)} 2>/dev/null) || listing=""`,
    `  else`,
    `    listing=$(${compose} run --rm --no-deps -T --entrypoint certbot certbot certificates --cert-name ${q(tls.domains[0]!)} 2>/dev/null) || listing=""`,
    `  fi`,
    `  echo "certificate_names=$(sed -n 's/^ *Domains: //p' <<<"$listing" | tr ' ' '\\n' | grep . | LC_ALL=C sort | xargs)"`,
    `  echo "certificate_expires=$(sed -n 's/^ *Expiry Date: \\([0-9-]* [0-9:]*\\).*/\\1/p' <<<"$listing" | head -n 1)"`,
    `}`,
  ];
}

/**
 * The deploy's certificates step: obtains the certificate when it is missing or does not cover
 * every configured name (certbot certonly --webroot; --expand keeps the account and adds the
 * names), turns HTTPS on in the serving frontend (its TLS decision again, then SIGHUP: a
 * graceful reload), starts the renewal service, and prints the certificate's names and expiry.
 * Exits 0 whatever certbot says: `certificate_failed=` carries its reason to the report, and
 * `certificate_image_failed=` says the certbot image could not be had (nothing else ran).
 */
export function obtainCertificates(env: EnvironmentSettings): RemoteCommand {
  const tls = tlsOf(env);
  const compose = composeCommand(env);
  const wanted = [...new Set(tls.domains.map((d) => d.toLowerCase()))].sort().join(" ");
  const certonly = [
    "certonly",
    "--webroot",
    "-w",
    "/var/www/certbot",
    "--cert-name",
    tls.domains[0]!,
    ...tls.domains.flatMap((domain) => ["-d", domain]),
    "--server",
    tls.acmeDirectory,
    ...(tls.email ? ["--email", tls.email] : ["--register-unsafely-without-email"]),
    "--agree-tos",
    "--no-eff-email",
    "--non-interactive",
    "--expand",
  ];
  return {
    step: "certificates",
    description: `HTTPS certificate for ${tls.domains.join(", ")} from ${tls.acmeDirectory} (certbot, HTTP-01 via ${ACME_WEBROOT_DIR}/), renewal service, graceful frontend reload`,
    timeoutMs: 10 * MINUTE,
    script: script([
      `cd ${q(env.appDir)}`,
      `mkdir -p ${q(ACME_WEBROOT_DIR)}`,
      `if ${lacksCertbotService(env)}; then`,
      `  echo ${q(`certificate_no_service=${env.composeFiles.join(", ")}`)}`,
      `  exit 0`,
      `fi`,
      // Without its image nothing below can run (nor say what the certificate is): say so.
      `if ! docker image inspect ${q(tls.certbotImage)} >/dev/null 2>&1 && ! pulled=$(docker pull -q ${q(tls.certbotImage)} 2>&1); then`,
      `  echo "certificate_image_failed=$(tr '\n' ' ' <<<"$pulled" | cut -c1-400)"`,
      `  exit 0`,
      `fi`,
      ...certFactsLines(env),
      `facts=$(cert_facts)`,
      `have=$(sed -n 's/^certificate_names=//p' <<<"$facts")`,
      `if [ "$have" = ${q(wanted)} ]; then`,
      `  echo "certificate=present"`,
      `elif out=$(${compose} run --rm --no-deps -T --entrypoint certbot certbot ${certonly.map(q).join(" ")} 2>&1); then`,
      `  echo "certificate=obtained"`,
      `  facts=$(cert_facts)`,
      `else`,
      // certbot's own words: the lines that say what went wrong, on one line.
      `  why=$(grep -iE 'error|detail|fail|problem|timeout|refused|rate' <<<"$out" | grep -v '^Saving debug' | head -n 6 || true)`,
      // Words none of those: its last lines, rather than no reason at all.
      `  [ -n "$why" ] || why=$(tail -n 3 <<<"$out")`,
      `  echo "certificate_failed=$(tr '\\n' ' ' <<<"$why" | cut -c1-600)"`,
      `fi`,
      `printf '%s\\n' "$facts"`,
      // The frontend decides HTTP or HTTPS afresh and reloads (its watcher would within a
      // minute); a running frontend that is not ours to reload is left alone.
      `for fe in $(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter label=com.docker.compose.service=frontend); do`,
      `  if docker exec "$fe" sh /usr/local/bin/qgo-frontend-entrypoint.sh true >/dev/null 2>&1 && docker kill -s HUP "$fe" >/dev/null; then echo "reloaded=$fe"; else echo "reload_failed=$fe"; fi`,
      `done`,
      // Renewal from now on, whatever happened above (it retries twice a day).
      `if ${compose} up -d --no-deps certbot >/dev/null 2>&1; then echo "renewal=running"; else echo "renewal=not started"; fi`,
    ]),
  };
}

/**
 * A condition, true when the environment's compose files (as compose reads them) have no
 * certbot service: staging's, say, where nothing can obtain or renew a certificate. Compose
 * files it cannot read (no release yet) are not taken for that.
 */
function lacksCertbotService(env: EnvironmentSettings): string {
  return `services=$(${composeCommand(env)} --profile certbot config --services 2>/dev/null) && ! grep -qx certbot <<<"$services"`;
}

/**
 * Status lines: the certificate's names, its end and the days left (a WARNING under
 * CERTIFICATE_WARNING_DAYS), and whether the renewal service runs.
 */
export function certificateStatusLines(env: EnvironmentSettings): string[] {
  const tls = tlsOf(env);
  const certificate = [
    `facts=$(cert_facts)`,
    `names=$(sed -n 's/^certificate_names=//p' <<<"$facts")`,
    `expires=$(sed -n 's/^certificate_expires=//p' <<<"$facts")`,
    `if [ -z "$names" ] || [ -z "$expires" ]; then`,
    `  echo ${q(`certificate: none for ${tls.domains.join(" ")} (the next deploy obtains it; the site serves plain HTTP)`)}`,
    `else`,
    `  days=$(( ($(date -u -d "$expires UTC" +%s) - $(date -u +%s)) / 86400 ))`,
    `  warning=""; [ "$days" -ge ${CERTIFICATE_WARNING_DAYS} ] || warning=" WARNING: under ${CERTIFICATE_WARNING_DAYS} days; is the renewal service running? docker compose logs certbot"`,
    `  echo "certificate: $names, expires $expires UTC ($days days)$warning"`,
    `fi`,
    `renewal=$(docker ps -q --filter ${q(`label=com.docker.compose.project=${env.project}`)} --filter label=com.docker.compose.service=certbot | head -n 1)`,
    `if [ -n "$renewal" ]; then echo "certificate renewal: running (compose service certbot, twice a day)"; else echo "certificate renewal: NOT RUNNING (the next deploy starts it)"; fi`,
  ];
  return [
    ...certFactsLines(env),
    `if ${lacksCertbotService(env)}; then`,
    `  echo ${q(`certificate: none: ${env.composeFiles.join(", ")} define no certbot service, so nothing obtains or renews one (README: HTTPS certificates)`)}`,
    `else`,
    ...certificate.map((line) => `  ${line}`),
    `fi`,
  ];
}

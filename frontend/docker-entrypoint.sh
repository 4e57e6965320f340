#!/bin/sh
# Start-up of the QGO Cargo frontend image: points nginx at the backend, decides between plain
# HTTP and HTTPS, then runs the command (nginx -g 'daemon off;'). POSIX sh, so it runs on
# Alpine and Debian bases alike.
#
# HTTPS is enabled when TLS_DOMAIN is set and $LETSENCRYPT_DIR/live/$TLS_DOMAIN/fullchain.pem
# exists (production mounts Let's Encrypt's /etc/letsencrypt read-only); port 80 then
# redirects to HTTPS. Otherwise the dashboard is served over plain HTTP only.
#
# The backend that /api and /health are proxied to (written to $NGINX_CONF_DIR/qgo/backend.conf):
#   QGO_BACKEND=host:port        default backend:5000 (the compose service). A host name or
#                                IPv4 address and a port; no scheme, no path.
#   QGO_BACKEND_RESOLVER=docker-dns  (default) resolve the host at every request through Docker's
#                                embedded DNS (127.0.0.11), so a recreated backend container
#                                is found again; right for Docker Compose.
#   QGO_BACKEND_RESOLVER=system  resolve the host once at start through the system resolver
#                                (/etc/hosts, then the DNS in /etc/resolv.conf); nginx does not
#                                start if it cannot be resolved. For Dagger services: an alias
#                                from withServiceBinding exists only in /etc/hosts, and there
#                                is no 127.0.0.11.
# A certificate obtained or renewed later (certbot writes the mounted directory) is picked up
# without a restart: when this starts nginx with TLS_DOMAIN set, a watcher checks the
# certificate every QGO_CERT_WATCH_SECONDS (default 60; 0: never) and, when it changed,
# re-runs this script's TLS decision and reloads nginx gracefully (SIGHUP to the master).
# NGINX_CONF_DIR and LETSENCRYPT_DIR exist so tests can run this against a scratch nginx.
set -eu

NGINX_CONF_DIR="${NGINX_CONF_DIR:-/etc/nginx}"
LETSENCRYPT_DIR="${LETSENCRYPT_DIR:-/etc/letsencrypt}"
TLS_DOMAIN="${TLS_DOMAIN:-}"
QGO_BACKEND="${QGO_BACKEND:-backend:5000}"
QGO_BACKEND_RESOLVER="${QGO_BACKEND_RESOLVER:-docker-dns}"
QGO_CERT_WATCH_SECONDS="${QGO_CERT_WATCH_SECONDS:-60}"
qgo_dir="$NGINX_CONF_DIR/qgo"

log() {
  printf 'qgo-frontend: %s\n' "$*" >&2
}

fail() {
  log "$*"
  exit 64
}

plain_http() {
  printf '%s\n' "# Written by docker-entrypoint.sh: plain HTTP." "include qgo/app.conf;" \
    >"$qgo_dir/http-mode.conf"
}

# The backend settings are checked before anything is written, so a bad value changes nothing.
bad_backend() {
  fail "QGO_BACKEND='$QGO_BACKEND' is not host:port. Set it to the backend's host name (letters, digits, dots, hyphens, underscores) or IPv4 address and its port (1-65535), with no scheme or path, e.g. QGO_BACKEND=backend:5000, or leave it unset for backend:5000."
}
case "$QGO_BACKEND" in
  *:*:*) bad_backend ;;
  *:*) ;;
  *) bad_backend ;;
esac
backend_host="${QGO_BACKEND%:*}"
backend_port="${QGO_BACKEND#*:}"
case "$backend_host" in
  "" | *[!A-Za-z0-9._-]* | .* | *. | *..* | -*) bad_backend ;;
esac
case "$backend_port" in
  "" | *[!0-9]* | 0* | ??????*) bad_backend ;;
esac
if [ "$backend_port" -gt 65535 ]; then
  bad_backend
fi
case "$QGO_BACKEND_RESOLVER" in
  docker-dns | system) ;;
  *)
    fail "QGO_BACKEND_RESOLVER='$QGO_BACKEND_RESOLVER' is not a known mode. Use docker-dns (the default: resolve the backend at every request through Docker's DNS, for Docker Compose) or system (resolve it once at start through /etc/hosts and the system's DNS, e.g. for Dagger services)."
    ;;
esac

case "$QGO_CERT_WATCH_SECONDS" in
  "" | *[!0-9]* | ??????*)
    fail "QGO_CERT_WATCH_SECONDS='$QGO_CERT_WATCH_SECONDS' is not a number of seconds. Set it to how often to look for a renewed certificate, e.g. 60, or 0 to never look."
    ;;
esac

mkdir -p "$qgo_dir/enabled"

if [ "$QGO_BACKEND_RESOLVER" = docker-dns ]; then
  {
    printf '%s\n' "# Written by docker-entrypoint.sh: backend $QGO_BACKEND, resolved per request through Docker's DNS (QGO_BACKEND_RESOLVER=docker-dns)."
    printf 'set $qgo_backend "http://%s";\n' "$QGO_BACKEND"
    printf '%s\n' "include qgo/backend-docker-dns.conf;"
  } >"$qgo_dir/backend.conf"
  log "Proxying /api and /health to $QGO_BACKEND, resolved at every request through Docker's DNS."
else
  {
    printf '%s\n' "# Written by docker-entrypoint.sh: backend $QGO_BACKEND, resolved once at start through the system resolver (QGO_BACKEND_RESOLVER=system)."
    printf 'proxy_pass http://%s;\n' "$QGO_BACKEND"
  } >"$qgo_dir/backend.conf"
  log "Proxying /api and /health to $QGO_BACKEND, resolved once at start through the system resolver (/etc/hosts, then DNS); nginx must restart to follow an address change."
fi

# Every start decides afresh: a restarted container must not keep an old TLS block.
rm -f "$qgo_dir/enabled/tls.conf"

if [ -z "$TLS_DOMAIN" ]; then
  plain_http
  log "TLS_DOMAIN is not set: serving plain HTTP on port 80."
else
  case "$TLS_DOMAIN" in
    *[!A-Za-z0-9.-]* | .* | *. | *..* | -*)
      fail "TLS_DOMAIN='$TLS_DOMAIN' is not a host name. Set it to the site's domain (letters, digits, dots and hyphens), e.g. TLS_DOMAIN=cargo.example.com, or leave it empty for plain HTTP."
      ;;
  esac
  case "$LETSENCRYPT_DIR" in
    *[\"\$\\\;{}]*) fail "LETSENCRYPT_DIR='$LETSENCRYPT_DIR' contains a character nginx would misread (\" \$ \\ ; { }). Mount the certificates at a plain path." ;;
  esac
  live_dir="$LETSENCRYPT_DIR/live/$TLS_DOMAIN"
  if [ ! -f "$live_dir/fullchain.pem" ]; then
    plain_http
    log "No certificate at $live_dir/fullchain.pem: serving plain HTTP only. Mount /etc/letsencrypt (with live/$TLS_DOMAIN/) to enable HTTPS."
  elif [ ! -f "$live_dir/privkey.pem" ]; then
    fail "$live_dir/fullchain.pem exists but $live_dir/privkey.pem does not. Mount the whole Let's Encrypt directory (live/ links into archive/), not single files."
  else
    {
      printf '%s\n' "# Written by docker-entrypoint.sh for TLS_DOMAIN=$TLS_DOMAIN."
      printf '%s\n' "server {"
      printf '    server_name %s;\n' "$TLS_DOMAIN"
      printf '    ssl_certificate "%s";\n' "$live_dir/fullchain.pem"
      printf '    ssl_certificate_key "%s";\n' "$live_dir/privkey.pem"
      printf '%s\n' "    include qgo/tls-server.conf;"
      printf '%s\n' "}"
    } >"$qgo_dir/enabled/tls.conf"
    printf '%s\n' "# Written by docker-entrypoint.sh: HTTPS is on, port 80 redirects." \
      "include qgo/http-redirect.conf;" >"$qgo_dir/http-mode.conf"
    log "HTTPS enabled for $TLS_DOMAIN with the certificate in $live_dir; port 80 redirects to HTTPS."
  fi
fi

# The certificate's identity: its files' inodes, times and sizes (certbot renews by writing
# new files in archive/ and moving the live/ links to them).
cert_stamp() {
  stat -L -c '%i %Y %s' "$live_dir/fullchain.pem" "$live_dir/privkey.pem" 2>/dev/null || echo none
}

# Only for the long-running server: not for `nginx -s reload`, `nginx -t` or another command.
watch=no
if [ -n "$TLS_DOMAIN" ] && [ "$QGO_CERT_WATCH_SECONDS" != 0 ]; then
  case "${1:-} | $* " in
    *" -s "* | *" -t "* | *" -T "* | *" -v "* | *" -V "*) ;;
    "nginx | "* | */nginx" | "*) watch=yes ;;
  esac
fi
if [ "$watch" = yes ]; then
  # $$ is this shell, which exec turns into nginx's master process.
  master=$$
  (
    stamp=$(cert_stamp)
    while sleep "$QGO_CERT_WATCH_SECONDS" && kill -0 "$master" 2>/dev/null; do
      now=$(cert_stamp)
      [ "$now" != "$stamp" ] || continue
      # Decided afresh before the reload; a half-written certificate (key missing) fails the
      # decision and nginx keeps what it serves until the next change completes it.
      if sh "$0" true && kill -HUP "$master"; then
        stamp=$now
        log "The certificate in $live_dir changed: nginx reloaded gracefully."
      else
        log "The certificate in $live_dir changed but is not usable yet: nginx keeps serving what it had."
      fi
    done
  ) </dev/null &
fi

exec "$@"

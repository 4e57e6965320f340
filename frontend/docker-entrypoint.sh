#!/bin/sh
# Start-up of the QGO Cargo frontend image: decides between plain HTTP and HTTPS, then runs
# the command (nginx -g 'daemon off;'). POSIX sh, so it runs on Alpine and Debian bases alike.
#
# HTTPS is enabled when TLS_DOMAIN is set and $LETSENCRYPT_DIR/live/$TLS_DOMAIN/fullchain.pem
# exists (production mounts Let's Encrypt's /etc/letsencrypt read-only); port 80 then
# redirects to HTTPS. Otherwise the dashboard is served over plain HTTP only.
# NGINX_CONF_DIR and LETSENCRYPT_DIR exist so tests can run this against a scratch nginx.
set -eu

NGINX_CONF_DIR="${NGINX_CONF_DIR:-/etc/nginx}"
LETSENCRYPT_DIR="${LETSENCRYPT_DIR:-/etc/letsencrypt}"
TLS_DOMAIN="${TLS_DOMAIN:-}"
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

mkdir -p "$qgo_dir/enabled"
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

exec "$@"

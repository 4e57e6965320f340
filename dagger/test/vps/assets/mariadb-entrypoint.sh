#!/bin/bash
# Entrypoint of the VPS-in-a-box's DB image: MariaDB from Debian behind the official mysql
# image's environment contract (MYSQL_ROOT_PASSWORD | MYSQL_ALLOW_EMPTY_PASSWORD |
# MYSQL_RANDOM_ROOT_PASSWORD, MYSQL_ROOT_HOST, MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD,
# each also as *_FILE; /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz run on first start).
# The data dir is initialised on the first start only; until the real server listens on TCP,
# a temporary server serves the socket alone, so TCP health checks stay red during set-up.
set -euo pipefail

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

note() { echo "[db-entrypoint] $*"; }
fail() { echo "[db-entrypoint] error: $*" >&2; exit 1; }

# VAR or VAR_FILE (never both), as the official image does.
file_env() {
  local var="$1" file_var="${1}_FILE" default="${2:-}"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    fail "both $var and $file_var are set; use one of them"
  fi
  local value="$default"
  if [ -n "${!var:-}" ]; then value="${!var}"; elif [ -n "${!file_var:-}" ]; then value="$(<"${!file_var}")"; fi
  export "$var"="$value"
  unset "$file_var"
}

sql_string() { # a quoted SQL string literal
  local value="${1//\\/\\\\}"
  printf "'%s'" "${value//\'/\\\'}"
}
sql_identifier() { # a quoted SQL identifier
  printf '`%s`' "${1//\`/\`\`}"
}

if [ "${1:0:1}" = "-" ]; then set -- mariadbd "$@"; fi
if [ "$1" = "mysqld" ]; then shift; set -- mariadbd "$@"; fi

if [ "$1" = "mariadbd" ]; then
  mkdir -p "$DATADIR" /run/mysqld
  chown mysql:mysql "$DATADIR" /run/mysqld
  file_env MYSQL_ROOT_PASSWORD
  file_env MYSQL_ALLOW_EMPTY_PASSWORD
  file_env MYSQL_RANDOM_ROOT_PASSWORD
  file_env MYSQL_ROOT_HOST '%'
  file_env MYSQL_DATABASE
  file_env MYSQL_USER
  file_env MYSQL_PASSWORD

  if [ ! -d "$DATADIR/mysql" ]; then
    if [ -z "$MYSQL_ROOT_PASSWORD" ] && [ -z "$MYSQL_ALLOW_EMPTY_PASSWORD" ] && [ -z "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
      fail "database is uninitialized and password option is not specified: set one of MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD and MYSQL_RANDOM_ROOT_PASSWORD"
    fi
    if [ "$MYSQL_USER" = "root" ]; then
      fail "MYSQL_USER=root is not allowed: use MYSQL_ROOT_PASSWORD for the root user"
    fi
    if [ -n "$MYSQL_USER" ] && [ -z "$MYSQL_PASSWORD" ]; then
      fail "MYSQL_USER is set but MYSQL_PASSWORD is empty"
    fi
    if [ -n "$MYSQL_RANDOM_ROOT_PASSWORD" ]; then
      MYSQL_ROOT_PASSWORD="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
      note "GENERATED ROOT PASSWORD: $MYSQL_ROOT_PASSWORD"
    fi

    note "initialising $DATADIR"
    mariadb-install-db --user=mysql --datadir="$DATADIR" --skip-test-db \
      --auth-root-authentication-method=normal --rpm > /dev/null

    "$@" --user=mysql --skip-networking --socket="$SOCKET" &
    temp_pid=$!
    for _ in $(seq 1 60); do
      if mariadb-admin --socket="$SOCKET" -uroot ping --silent > /dev/null 2>&1; then break; fi
      if ! kill -0 "$temp_pid" 2> /dev/null; then fail "the temporary server exited during initialisation"; fi
      sleep 1
    done
    mariadb-admin --socket="$SOCKET" -uroot ping --silent > /dev/null || fail "the temporary server did not start"

    {
      echo "SET @@SESSION.SQL_LOG_BIN=0;"
      host="$(hostname)"
      echo "DROP USER IF EXISTS ''@'localhost', ''@$(sql_string "$host"), 'root'@'127.0.0.1', 'root'@'::1', 'root'@$(sql_string "$host");"
      echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
      if [ -n "$MYSQL_ROOT_HOST" ] && [ "$MYSQL_ROOT_HOST" != "localhost" ]; then
        echo "CREATE USER 'root'@$(sql_string "$MYSQL_ROOT_HOST") IDENTIFIED BY $(sql_string "$MYSQL_ROOT_PASSWORD");"
        echo "GRANT ALL ON *.* TO 'root'@$(sql_string "$MYSQL_ROOT_HOST") WITH GRANT OPTION;"
      fi
      if [ -n "$MYSQL_DATABASE" ]; then
        echo "CREATE DATABASE IF NOT EXISTS $(sql_identifier "$MYSQL_DATABASE");"
      fi
      if [ -n "$MYSQL_USER" ]; then
        echo "CREATE USER $(sql_string "$MYSQL_USER")@'%' IDENTIFIED BY $(sql_string "$MYSQL_PASSWORD");"
        if [ -n "$MYSQL_DATABASE" ]; then
          echo "GRANT ALL ON $(sql_identifier "$MYSQL_DATABASE").* TO $(sql_string "$MYSQL_USER")@'%';"
        fi
      fi
      echo "FLUSH PRIVILEGES;"
    } | mariadb --protocol=socket --socket="$SOCKET" -uroot

    export MYSQL_PWD="$MYSQL_ROOT_PASSWORD"
    for file in /docker-entrypoint-initdb.d/*; do
      [ -e "$file" ] || continue
      case "$file" in
        *.sh) note "running $file"; . "$file" ;;
        *.sql) note "running $file"; mariadb --socket="$SOCKET" -uroot ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} < "$file" ;;
        *.sql.gz) note "running $file"; gunzip -c "$file" | mariadb --socket="$SOCKET" -uroot ${MYSQL_DATABASE:+"$MYSQL_DATABASE"} ;;
        *) note "ignoring $file" ;;
      esac
    done
    unset MYSQL_PWD

    MYSQL_PWD="$MYSQL_ROOT_PASSWORD" mariadb-admin --socket="$SOCKET" -uroot shutdown
    wait "$temp_pid" || true
    note "initialisation done"
  fi
  exec "$@" --user=mysql
fi

exec "$@"

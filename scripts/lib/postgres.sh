# Debian's PostgreSQL 15 for the demos and the benchmarks: initdb into $work/postgres as an
# unprivileged user (nobody, when run as root: PostgreSQL refuses root), listening on a Unix
# socket in that directory only. Sourced, not run. Needs: $work and the array pids.
# start_postgres: sets POSTGRES_URL (the signer's [state] url) and POSTGRES_SOCKET_DIR.
start_postgres() {
    local pgbin=/usr/lib/postgresql/15/bin db="$work/postgres"
    local as_db_user=()
    mkdir -p "$db"
    chmod 755 "$work"
    if [ "$(id -u)" -eq 0 ]; then
        chown 65534:65534 "$db"
        as_db_user=(setpriv --reuid=65534 --regid=65534 --clear-groups --reset-env)
    fi
    "${as_db_user[@]}" "$pgbin/initdb" -D "$db/data" -A trust -U csrproxy -E UTF8 --no-sync --no-instructions >/dev/null
    "${as_db_user[@]}" "$pgbin/postgres" -D "$db/data" -k "$db" -c listen_addresses= -c max_connections=200 \
        >"$work/postgres.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do pg_isready -q -h "$db" -U csrproxy -d postgres && break; sleep 0.1; done
    pg_isready -q -h "$db" -U csrproxy -d postgres || { echo "PostgreSQL did not start: $(cat "$work/postgres.log")" >&2; exit 1; }
    POSTGRES_SOCKET_DIR="$db"
    POSTGRES_URL="postgresql://csrproxy@/postgres?host=$db"
}

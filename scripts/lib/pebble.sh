# Starting Debian's pebble on loopback for the demo and the benchmarks. Sourced, not run.
# Needs: $work (a scratch directory) and the array pids (for the cleanup trap); free_port from common.sh.

# A self-signed certificate for pebble's TLS listener on 127.0.0.1: $work/tls.pem, $work/tls.key.
make_pebble_tls() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -keyout "$work/tls.key" -out "$work/tls.pem" 2>/dev/null
}

# start_pebble NAME DNS_PORT: pebble validating DNS-01 against 127.0.0.1:DNS_PORT.
# Sets PEBBLE_URL (the directory) and PEBBLE_MANAGEMENT (for /roots/0).
start_pebble() {
    local acme_port mgmt_port
    acme_port="$(free_port)"; mgmt_port="$(free_port)"
    cat > "$work/$1.json" <<JSON
{"pebble": {"listenAddress": "127.0.0.1:$acme_port", "managementListenAddress": "127.0.0.1:$mgmt_port",
 "certificate": "$work/tls.pem", "privateKey": "$work/tls.key", "httpPort": $(free_port), "tlsPort": $(free_port),
 "ocspResponderURL": "", "externalAccountBindingRequired": false}}
JSON
    # PEBBLE_AUTHZREUSE (pebble's default 50%) may be set by the caller: 0 makes every order
    # publish a challenge, as a CA with fresh authorizations does.
    PEBBLE_VA_NOSLEEP=1 PEBBLE_AUTHZREUSE="${PEBBLE_AUTHZREUSE:-50}" pebble -config "$work/$1.json" -dnsserver "127.0.0.1:$2" >"$work/$1.log" 2>&1 &
    pids+=($!)
    PEBBLE_URL="https://127.0.0.1:$acme_port/dir"
    PEBBLE_MANAGEMENT="https://127.0.0.1:$mgmt_port"
    for _ in $(seq 100); do curl -fs --cacert "$work/tls.pem" "$PEBBLE_URL" >/dev/null && return 0; sleep 0.1; done
    echo "pebble $1 did not start: $(cat "$work/$1.log")" >&2; exit 1
}

# start_signer BINARY CONFIG [NAME]: runs the signer and waits until it listens; sets SIGNER_HTTP
# (host:port). NAME (default signer) names its output files, so several can run at once.
start_signer() {
    local out="$work/${3:-signer}"
    "$1" serve -c "$2" --log-level warning >"$out.out" 2>"$out.err" &
    pids+=($!)
    for _ in $(seq 100); do grep -q "listening: http=" "$out.out" && break; sleep 0.1; done
    SIGNER_HTTP="$(sed -n 's/.*listening: http=\([^ ]*\).*/\1/p' "$out.out")"
    [ -n "$SIGNER_HTTP" ] || { echo "the signer did not start: $(cat "$out.err")" >&2; exit 1; }
    for _ in $(seq 100); do curl -fs "http://$SIGNER_HTTP/readyz" >/dev/null && return 0; sleep 0.1; done
    echo "the signer is not ready: $(curl -s "http://$SIGNER_HTTP/readyz")" >&2; exit 1
}

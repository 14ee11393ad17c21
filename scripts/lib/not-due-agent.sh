# An agent with a certificate that is not due, as on a box between two renewals: pebble and the
# signer issue it, then one `renew` caches the signer's renewal window. Sourced, not run.
# Needs: $work, the array pids, and scripts/lib/pebble.sh sourced.

# make_not_due_agent AGENT SIGNER: writes $work/agent.toml for AGENT (certificate in $work/agent)
# and $work/pebble-root.pem. Pebble and SIGNER keep running (their pids are in pids).
make_not_due_agent() {
    local agent="$1" signer="$2" dns_port
    make_pebble_tls
    dns_port="$(free_port)"
    start_pebble pebble "$dns_port"
    curl -s --cacert "$work/tls.pem" "$PEBBLE_MANAGEMENT/roots/0" > "$work/pebble-root.pem"
    sed -e "s|@DIRECTORY@|$PEBBLE_URL|" -e "s|@WORK@|$work|g" -e "s|@DNS_PORT@|$dns_port|" \
        scripts/example-zone/signer-demo.toml > "$work/signer.toml"
    start_signer "$signer" "$work/signer.toml"
    cat > "$work/agent.toml" <<TOML
signer_url = "http://$SIGNER_HTTP"
name = "go.eval.example.com"
directory = "$work/agent"
ca_bundle = "$work/pebble-root.pem"
TOML
    "$agent" issue -c "$work/agent.toml" --quiet
    "$agent" renew -c "$work/agent.toml" --quiet   # asks the signer once and caches the window
}

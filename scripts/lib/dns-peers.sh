# Knot and BIND from Debian beside the signer, for the benchmarks, configured with the snippets in
# examples/dns/ (as the tests are). Sourced, not run. Needs: $work and the array pids.

# fill_example FILE KEY=VALUE...: examples/dns/FILE with each @KEY@ replaced by VALUE.
fill_example() {
    local text pair
    text="$(cat "examples/dns/$1")"; shift
    for pair in "$@"; do text="${text//@${pair%%=*}@/${pair#*=}}"; done
    printf '%s\n' "$text"
}

# start_knot NAME PORT SNIPPET KEY=VALUE...: knotd on 127.0.0.1:PORT with the filled snippet.
start_knot() {
    local name=$1 port=$2 snippet=$3; shift 3
    mkdir -p "$work/$name"
    { cat <<YAML
server:
    rundir: "$work/$name"
    listen: 127.0.0.1@$port
database:
    storage: "$work/$name"
template:
  - id: default
    storage: "$work/$name"
YAML
      fill_example "$snippet" "$@"; } > "$work/$name/knot.conf"
    knotd -c "$work/$name/knot.conf" > "$work/$name.log" 2>&1 &
    pids+=($!)
}

# named_directory NAME: a fresh directory for named's files, under /var/cache/bind when it can
# write there (Debian's AppArmor profile confines named to it).
named_directory() {
    local base="$work"
    [ -w /var/cache/bind ] && base=/var/cache/bind
    mktemp -d "$base/csrproxy-bench-$1-XXXXXX"
}

# start_named NAME PORT SNIPPET DIRECTORY KEY=VALUE...: named on 127.0.0.1:PORT with the filled
# snippet, keeping its files in DIRECTORY.
start_named() {
    local name=$1 port=$2 snippet=$3 directory=$4; shift 4
    { cat <<CONF
options {
    directory "$directory";
    pid-file "$directory/named.pid";
    listen-on port $port { 127.0.0.1; };
    listen-on-v6 { none; };
    recursion no;
    notify no;
    dnssec-validation no;
};
controls { };
CONF
      fill_example "$snippet" "$@"; } > "$directory/named.conf"
    named -g -c "$directory/named.conf" > "$work/$name.log" 2>&1 &
    pids+=($!)
}

# wait_serving PORT ZONE: until 127.0.0.1:PORT answers SOA for ZONE authoritatively.
wait_serving() {
    for _ in $(seq 200); do
        dig @127.0.0.1 -p "$1" +norecurse +tries=1 +time=1 SOA "$2" 2>/dev/null | grep -q "status: NOERROR" && return 0
        sleep 0.1
    done
    echo "nothing serves $2 on port $1" >&2; exit 1
}

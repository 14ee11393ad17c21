# Shared by the scripts in scripts/: find Swift, install Debian packages that are missing.
# Sourced, not run.

# Puts the Swift toolchain on PATH; this machine image keeps it in /opt/swift.
ensure_swift() {
    if ! command -v swift >/dev/null 2>&1 && [ -x /opt/swift/usr/bin/swift ]; then
        export PATH="/opt/swift/usr/bin:$PATH"
    fi
    if ! command -v swift >/dev/null 2>&1; then
        echo "error: no Swift toolchain found; install Swift 6 (swift.org) so that 'swift' or /opt/swift/usr/bin/swift exists" >&2
        exit 69
    fi
}

# Installs each named Debian package that is not installed yet (one apt-get update first).
ensure_debian_packages() {
    local missing=() package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "==> installing from Debian: ${missing[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

# DNS servers the tests start themselves on their own ports. Debian would start each as a
# service on port 53 when it is installed, where they collide with each other (and a failed start
# fails the install); a policy-rc.d that says no keeps them stopped, as on a container.
ensure_debian_servers() {
    local policy=/usr/sbin/policy-rc.d sudo="" created=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\n# csrproxy scripts/test: install without starting services\nexit 101\n' | $sudo tee "$policy" >/dev/null
        $sudo chmod 755 "$policy"
        created=1
    fi
    local status=0
    ensure_debian_packages "$@" || status=$?
    [ -n "$created" ] && $sudo rm -f "$policy"
    return "$status"
}

# A free TCP/UDP port on 127.0.0.1 (free for both at the time of asking).
free_port() {
    python3 - <<'PY'
import socket
while True:
    t = socket.socket(); t.bind(("127.0.0.1", 0)); port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port)); print(port); break
    except OSError:
        pass
    finally:
        t.close(); u.close()
PY
}

# How release binaries are built: the Swift standard library linked in, and every function in a
# section of its own (Swift and C alike), so the linker drops what nothing calls and can lay the
# agent's code out in the order packaging/csrproxy-agent.link-order gives (scripts/make-agent-order).
# Every release build in scripts/ uses them, so the one release directory is built one way.
RELEASE_BUILD_FLAGS=(-c release --static-swift-stdlib -Xswiftc -Xfrontend -Xswiftc -function-sections -Xcc -ffunction-sections)

# check_function_sections BIN_DIRECTORY: fails when a Swift object there holds its code whole.
# SwiftPM does not recompile a module when only -Xfrontend flags change, so objects built before
# RELEASE_BUILD_FLAGS (or by a plain `swift build -c release`) stay, and the agent would link
# without its layout, silently. The fix is to remove BIN_DIRECTORY and build again.
check_function_sections() {
    python3 - "$1" <<'PY'
import pathlib, re, subprocess, sys
whole = []
for obj in sorted(pathlib.Path(sys.argv[1]).glob("*.build/*.swift.o")):
    sections = subprocess.run(["readelf", "-SW", str(obj)], capture_output=True, text=True).stdout
    match = re.search(r"\] \.text\s+PROGBITS\s+[0-9a-f]+\s+[0-9a-f]+\s+([0-9a-f]+)", sections)
    if match and int(match.group(1), 16) > 0:
        whole.append(obj)
if whole:
    sys.exit(f"error: {len(whole)} Swift objects in {sys.argv[1]} were built without -function-sections "
             f"(e.g. {whole[0].name}); remove {sys.argv[1]} and build again")
PY
}

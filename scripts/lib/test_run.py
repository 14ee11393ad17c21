#!/usr/bin/env python3
"""Bookkeeping for one scripts/test run, so that a run leaves the machine as it found it.

    test_run.py begin RUN_DIR        clean up what an earlier run left, start a new record;
                                     prints shell `export` lines for the run's scratch places
    test_run.py record RUN_DIR PID   record a process the run started (its process group)
    test_run.py end RUN_DIR STATUS   stop what is recorded and still there; remove the scratch
                                     directories when STATUS is 0, keep them (path printed) if not

RUN_DIR/current holds the record of the run in progress: processes/<pid> ("pid starttime",
written by `record`), children/<pid> (the same, written by the test harness for each child it
starts when the tests do not run in a PID namespace of their own) and scratch (one directory a
line). A process is stopped only when its pid still has the start time recorded with it: a pid
alone may name someone else's process by now. Nothing is ever stopped by name.
Kept scratch directories are listed in RUN_DIR/kept; the next run removes those over a day old.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

KEEP_SECONDS = 24 * 3600


def stat_fields(pid):
    """The fields of /proc/PID/stat after the command name (state first), or None when there
    is no such process. The name may hold spaces and parentheses, so it is cut at the last ')'."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            text = stat.read()
    except OSError:
        return None
    return text[text.rindex(")") + 2:].split()


def start_time(pid):
    """Field 22 of /proc/PID/stat: when it started, in ticks since boot; None when gone."""
    fields = stat_fields(pid)
    return int(fields[19]) if fields else None


def is_zombie(pid):
    """True for a process that has exited (or is gone) and only waits to be reaped."""
    fields = stat_fields(pid)
    return fields is None or fields[0] == "Z"


def group_members(pgid, since):
    """Processes in group `pgid` that started no earlier than `since` (ticks since boot)."""
    members = []
    for entry in os.listdir("/proc"):
        fields = stat_fields(entry) if entry.isdigit() else None
        if fields and fields[0] != "Z" and int(fields[2]) == pgid and int(fields[19]) >= since:
            members.append(int(entry))
    return members


def read_records(directory):
    records = []
    if not os.path.isdir(directory):
        return records
    for name in os.listdir(directory):
        try:
            with open(os.path.join(directory, name)) as record:
                pid, started = record.read().split()
            records.append((int(pid), int(started)))
        except (OSError, ValueError):
            continue
    return records


def stop_recorded(current):
    """SIGKILLs every recorded process that is still the one recorded, and its group. Returns
    how many processes were stopped."""
    stopped = set()
    records = read_records(os.path.join(current, "processes")) + read_records(os.path.join(current, "children"))
    for pid, started in records:
        targets = set(group_members(pid, started))
        if start_time(pid) == started:
            targets.add(pid)
        for target in targets:
            try:
                os.kill(target, signal.SIGKILL)
                stopped.add(target)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(start_time(pid) is not None and not is_zombie(pid) for pid in stopped):
        time.sleep(0.1)
    return len(stopped)


def scratch_directories(current):
    try:
        with open(os.path.join(current, "scratch")) as listing:
            return [line.strip() for line in listing if line.strip()]
    except OSError:
        return []


def unmount_under(directories):
    """Lazily unmounts every mount point inside the scratch directories (a Debian root's /proc
    when the tests ran without a mount namespace). Returns how many."""
    count = 0
    try:
        with open("/proc/self/mountinfo") as mountinfo:
            points = [line.split()[4] for line in mountinfo]
    except OSError:
        return 0
    for point in sorted(points, key=len, reverse=True):
        point = point.replace("\\040", " ")
        if any(point.startswith(directory.rstrip("/") + "/") for directory in directories):
            if subprocess.run(["umount", "-l", point], capture_output=True).returncode == 0:
                count += 1
    return count


CGROUP_HIERARCHIES = ("/sys/fs/cgroup/unified", "/sys/fs/cgroup/systemd", "/sys/fs/cgroup")
BOOT_CGROUP_PREFIX = "csrproxy-boot-"  # BootedSystem's containers (Tests/TestSupport/BootedSystem.swift)


def remove_boot_cgroups():
    """Ends what is left in the booted containers' cgroups and removes them, innermost first.
    Returns how many containers' cgroups were removed."""
    removed = set()
    for hierarchy in CGROUP_HIERARCHIES:
        if not os.path.isdir(hierarchy):
            continue
        for name in os.listdir(hierarchy):
            top = os.path.join(hierarchy, name)
            if not name.startswith(BOOT_CGROUP_PREFIX) or not os.path.isdir(top):
                continue
            kill = os.path.join(top, "cgroup.kill")
            if os.path.exists(kill):
                try:
                    with open(kill, "w") as control:
                        control.write("1")
                except OSError:
                    pass
            deadline = time.time() + 5
            while os.path.isdir(top) and time.time() < deadline:
                for path, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
                    try:
                        os.rmdir(path)
                    except OSError:
                        pass
                if os.path.isdir(top):
                    time.sleep(0.05)
            if not os.path.isdir(top):
                removed.add(name)
    return len(removed)


def remove(directory):
    # --one-file-system: never into a mount that is still there.
    subprocess.run(["rm", "-rf", "--one-file-system", directory], capture_output=True)


def finish(run_dir, keep, why):
    """Stops what `current` recorded, unmounts, then removes or keeps its scratch directories.
    Returns (processes and containers stopped, mounts undone, directories removed, directories kept)."""
    current = os.path.join(run_dir, "current")
    stopped = stop_recorded(current) + remove_boot_cgroups()
    directories = [d for d in scratch_directories(current) if os.path.isdir(d)]
    unmounted = unmount_under(directories)
    removed, kept = 0, []
    for directory in directories:
        if keep:
            os.makedirs(os.path.join(run_dir, "kept"), exist_ok=True)
            with open(os.path.join(run_dir, "kept", os.path.basename(directory)), "w") as note:
                note.write(f"{directory}\n{why}\n")
            kept.append(directory)
        else:
            remove(directory)
            removed += 1
    shutil.rmtree(current, ignore_errors=True)
    return stopped, unmounted, removed, kept


def prune_kept(run_dir):
    """Removes kept scratch directories over a day old. Returns how many."""
    kept_dir = os.path.join(run_dir, "kept")
    if not os.path.isdir(kept_dir):
        return 0
    count = 0
    for name in os.listdir(kept_dir):
        note = os.path.join(kept_dir, name)
        try:
            with open(note) as text:
                directory = text.readline().strip()
            age = time.time() - os.stat(note).st_mtime
        except OSError:
            continue
        if age > KEEP_SECONDS:
            if os.path.isdir(directory):
                unmount_under([directory])
                remove(directory)
                count += 1
            os.unlink(note)
    return count


def begin(run_dir):
    os.makedirs(run_dir, exist_ok=True)
    current = os.path.join(run_dir, "current")
    said = []
    if os.path.isdir(current):
        stopped, unmounted, _, kept = finish(run_dir, keep=True, why="an earlier run that did not finish")
        said.append(f"stopped {stopped} processes or containers and undid {unmounted} mounts left by an earlier run that did not finish"
                    + (f"; its scratch is kept in {', '.join(kept)}" if kept else ""))
    pruned = prune_kept(run_dir)
    if pruned:
        said.append(f"removed {pruned} kept scratch directories over a day old")
    print("==> test run: " + ("; ".join(said) if said else "nothing left by earlier runs"), file=sys.stderr)

    os.makedirs(os.path.join(current, "processes"))
    os.makedirs(os.path.join(current, "children"))
    # A short path: PostgreSQL's socket path inside it must stay under 108 bytes.
    scratch = [tempfile.mkdtemp(prefix="csrproxy-test-", dir="/tmp")]
    os.chmod(scratch[0], 0o755)  # PostgreSQL runs as nobody under it
    exports = {"TMPDIR": scratch[0], "CSRPROXY_TEST_RUN": os.path.abspath(current)}
    # BIND's AppArmor profile lets named write only under /var/cache/bind.
    if os.path.isdir("/var/cache/bind") and os.access("/var/cache/bind", os.W_OK):
        bind = tempfile.mkdtemp(prefix="csrproxy-test-", dir="/var/cache/bind")
        os.chmod(bind, 0o775)
        scratch.append(bind)
        exports["CSRPROXY_TEST_BIND_DIR"] = bind
    with open(os.path.join(current, "scratch"), "w") as listing:
        listing.write("".join(f"{directory}\n" for directory in scratch))
    for name, value in exports.items():
        print(f"export {name}='{value}'")


def record(run_dir, pid):
    started = start_time(pid)
    if started is None:
        return
    path = os.path.join(run_dir, "current", "processes", str(pid))
    with open(path, "w") as note:
        note.write(f"{pid} {started}\n")


def end(run_dir, status):
    stopped, unmounted, removed, kept = finish(run_dir, keep=status != 0, why=f"a run that exited {status}")
    parts = [f"stopped {stopped} leftover processes or containers", f"undid {unmounted} mounts"]
    parts.append(f"kept the scratch directories for a look: {', '.join(kept)} (the next run removes them after a day)" if kept
                 else f"removed {removed} scratch directories")
    print("==> test run cleanup: " + "; ".join(parts), file=sys.stderr)


def main(arguments):
    if len(arguments) < 2 or arguments[0] not in ("begin", "record", "end"):
        print(__doc__, file=sys.stderr)
        return 64
    command, run_dir = arguments[0], arguments[1]
    if command == "begin":
        begin(run_dir)
    elif command == "record":
        record(run_dir, int(arguments[2]))
    else:
        end(run_dir, int(arguments[2]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

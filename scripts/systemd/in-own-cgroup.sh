#!/usr/bin/env bash
# in-own-cgroup.sh NAME CMD...  — runs CMD inside a cgroup of its own, created at /NAME in every
# writable cgroup hierarchy, and removes it (killing only what is left inside it) afterwards.
# A systemd manager (systemd-nspawn --boot) started from the machine's root cgroup would move every
# process of the machine into its own scope; started here it only touches what lies below /NAME.
set -uo pipefail
name=$1; shift
made=()
for hierarchy in /sys/fs/cgroup/*/; do
    hierarchy=${hierarchy%/}
    [ -w "$hierarchy/cgroup.procs" ] || continue
    dir="$hierarchy/$name"
    if [ ! -d "$dir" ]; then
        mkdir "$dir" || exit 1
        made+=("$dir")
        if [ -e "$dir/cpuset.cpus" ]; then
            cat "$hierarchy/cpuset.cpus" > "$dir/cpuset.cpus"
            cat "$hierarchy/cpuset.mems" > "$dir/cpuset.mems"
        fi
    fi
done
cleanup() {
    for dir in "${made[@]}"; do
        find "$dir" -name cgroup.procs -exec cat {} + 2>/dev/null | while read -r pid; do
            [ "$pid" != "$$" ] && kill -KILL "$pid" 2>/dev/null
        done
    done
    for dir in "${made[@]}"; do
        for _ in $(seq 50); do
            find "$dir" -depth -type d -exec rmdir {} \; 2>/dev/null
            [ -d "$dir" ] || break
            sleep 0.1
        done
        [ -d "$dir" ] && echo "in-own-cgroup: could not remove $dir" >&2
    done
}
# The command runs in a child placed in the new cgroup; this shell stays outside to clean up.
bash -c 'for d in "$@"; do echo $$ > "$d/cgroup.procs"; done
         if grep -qv ":/'"$name"'\$" /proc/self/cgroup; then echo "in-own-cgroup: not isolated" >&2; cat /proc/self/cgroup >&2; exit 1; fi
         exec '"$(printf '%q ' "$@")" sh "${made[@]/%/}"
rc=$?
cleanup
exit $rc

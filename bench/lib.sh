# shellcheck shell=bash
# Helpers shared by bench/run.sh and its parts: messages, starting and stopping processes by
# their recorded PID, reading CPU time and memory from /proc, ports.
#
# Sourced, never run. Expects the caller to have `set -euo pipefail`.

log() { printf '==> %s\n' "$*" >&2; }
warn() { printf 'warning: %s\n' "$*" >&2; }
die() {
    printf 'error: %s\n' "$*" >&2
    exit 1
}

# --- /proc ----------------------------------------------------------------------------

# True while PID exists and is not a zombie.
is_alive() {
    local line
    read -r line 2>/dev/null <"/proc/$1/stat" || return 1
    line=${line##*) }
    [[ ${line%% *} != Z ]]
}

# Prints the direct children of PID (from the ppid field of every /proc/*/stat).
children_of() {
    local parent=$1 stat line fields
    for stat in /proc/[0-9]*/stat; do
        read -r line 2>/dev/null <"$stat" || continue
        local pid=${line%% *}
        line=${line##*) } # drop "pid (comm) ": comm may hold spaces
        read -r -a fields <<<"$line"
        [[ ${fields[1]} == "$parent" ]] && printf '%s\n' "$pid"
    done
    return 0
}

# Prints PID and all its descendants.
proc_tree() {
    local queue=("$1") out=() p c
    while ((${#queue[@]})); do
        p=${queue[0]}
        queue=("${queue[@]:1}")
        out+=("$p")
        for c in $(children_of "$p"); do queue+=("$c"); done
    done
    echo "${out[@]}"
}

# utime and stime, in clock ticks, each summed over the given PIDs (all their threads, live
# or exited: /proc/PID/stat counts the whole thread group): "USER SYSTEM". The two tell a
# proxy's own work from the kernel's (system calls, and the TCP/IP stack they run).
cpu_split_ticks() {
    local user=0 system=0 pid line fields
    for pid in "$@"; do
        read -r line 2>/dev/null <"/proc/$pid/stat" || continue
        line=${line##*) }
        read -r -a fields <<<"$line"
        # fields[0] is field 3 (state): field 14 (utime) is [11], field 15 (stime) is [12].
        user=$((user + fields[11]))
        system=$((system + fields[12]))
    done
    echo "$user $system"
}

# Sum of utime+stime, in clock ticks, over the given PIDs.
cpu_ticks() {
    local user system
    read -r user system <<<"$(cpu_split_ticks "$@")"
    echo $((user + system))
}

# Sum of one /proc/PID/status field (VmRSS, VmHWM), in KiB, over the given PIDs.
status_kib() {
    local field=$1 total=0 pid kib
    shift
    for pid in "$@"; do
        kib=$(awk -v f="$field:" '$1 == f {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        total=$((total + ${kib:-0}))
    done
    echo "$total"
}
rss_kib() { status_kib VmRSS "$@"; }
hwm_kib() { status_kib VmHWM "$@"; }

# Resets the peak-RSS mark (VmHWM) of each PID to its current RSS, so that VmHWM read after a
# run is that run's peak, exact, with no sampling (proc(5), /proc/PID/clear_refs, value 5).
reset_hwm() {
    local pid
    for pid in "$@"; do
        echo 5 2>/dev/null >"/proc/$pid/clear_refs" || warn "cannot reset VmHWM of PID $pid: peak RSS is since start"
    done
}

# "busy0 total0 busy1 total1" in ticks, from /proc/stat, for CPUs $PROXY_CPU and $LOAD_CPU.
cpu_busy() {
    awk -v a="cpu$PROXY_CPU" -v b="cpu$LOAD_CPU" '
        $1 == a || $1 == b {
            busy = $2 + $3 + $4 + $7 + $8 + $9; total = busy + $5 + $6
            v[$1] = busy " " total
        }
        END {print v[a], v[b]}' /proc/stat
}

# --- processes ------------------------------------------------------------------------

declare -A PID_OF=() # name -> PID of the process we started (root of its tree)
STARTED=()           # every PID we started and may still have to stop

# prioritized CPUS CMD...: runs CMD pinned to CPUS, in a new session (so the kernel gives it
# its own scheduler autogroup) at nice $NICE, replacing this shell (same PID). With
# sched_autogroup on, a plain `nice` only ranks a process within its own session; other
# sessions' jobs would still get an equal share of the CPU. The autogroup's own nice is set
# from outside once the PID is known (set_autogroup_nice).
prioritized() {
    local cpus=$1
    shift
    if [[ $PRIORITY == nice ]]; then
        exec setsid nice -n "$NICE" taskset -c "$cpus" "$@"
    else
        exec taskset -c "$cpus" "$@"
    fi
}

set_autogroup_nice() {
    [[ $PRIORITY == nice ]] || return 0
    echo "$NICE" 2>/dev/null >"/proc/$1/autogroup" || warn "cannot set the autogroup nice of PID $1"
}

# spawn NAME CPUS LOGFILE CMD...: starts CMD in the background as `prioritized` does and
# records its PID as PID_OF[NAME].
spawn() {
    local name=$1 cpus=$2 logfile=$3
    shift 3
    (prioritized "$cpus" "$@") >"$logfile" 2>&1 </dev/null &
    local pid=$!
    PID_OF[$name]=$pid
    STARTED+=("$pid")
    set_autogroup_nice "$pid"
}

# bounded_run SECONDS CPUS OUTFILE CMD...: runs CMD like spawn but waits for it, killing it
# after SECONDS. Run in the background and waited for, so a signal to this script is
# handled at once (the EXIT trap then stops CMD too). Returns CMD's exit status.
bounded_run() {
    local limit=$1 cpus=$2 outfile=$3 rc=0
    shift 3
    (prioritized "$cpus" timeout --kill-after=5 "$limit" "$@") >"$outfile" 2>&1 </dev/null &
    local pid=$!
    STARTED+=("$pid")
    set_autogroup_nice "$pid"
    wait "$pid" || rc=$?
    forget_pid "$pid"
    return "$rc"
}

forget_pid() {
    local keep=() p
    for p in "${STARTED[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    STARTED=("${keep[@]}")
}

# Stops PID and its descendants: TERM, up to 10 s of grace, then KILL.
stop_tree() {
    local root=$1 pid i alive
    is_alive "$root" || return 0
    local all
    read -r -a all <<<"$(proc_tree "$root")"
    kill -TERM "$root" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        alive=0
        for pid in "${all[@]}"; do is_alive "$pid" && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${all[@]}"; do
        if is_alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    wait "$root" 2>/dev/null || true
}

# stop NAME: stops the process started as NAME.
stop() {
    local pid=${PID_OF[$1]:-}
    [[ -n $pid ]] || return 0
    stop_tree "$pid"
    forget_pid "$pid"
    unset "PID_OF[$1]"
}

# EXIT trap: stops everything this script started, newest first, then removes the CPU
# cgroups it made (empty once their threads are gone).
stop_all() {
    local rc=$? i
    trap - EXIT
    if ((${#STARTED[@]})); then
        log "stopping ${#STARTED[@]} started process(es)"
        for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_tree "${STARTED[i]}"; done
    fi
    remove_cpu_groups
    exit "$rc"
}

# --- CPU quotas -----------------------------------------------------------------------

# The cgroup (v1) cpu controller, where a group's threads can be given a CPU quota.
CPU_CGROUP_ROOT=${CPU_CGROUP_ROOT:-/sys/fs/cgroup/cpu}
CPU_GROUPS_MADE=() # every group made here, removed on exit

# True if this script may make CPU-quota groups here (cgroup v1 cpu controller; root).
can_limit_cpu() {
    [[ -f $CPU_CGROUP_ROOT/cpu.cfs_quota_us && -w $CPU_CGROUP_ROOT ]]
}

# limit_cpu GROUP PCT TID...: moves the threads TID into cgroup GROUP, made here if new,
# whose threads together may run PCT% of one CPU's time (CFS bandwidth control, per 10 ms).
limit_cpu() {
    local dir=$CPU_CGROUP_ROOT/$1 pct=$2 tid
    shift 2
    if [[ ! -d $dir ]]; then
        mkdir "$dir" || die "cannot make the cgroup $dir"
        CPU_GROUPS_MADE+=("$dir")
        echo 10000 >"$dir/cpu.cfs_period_us"
        echo $((pct * 100)) >"$dir/cpu.cfs_quota_us"
    fi
    for tid in "$@"; do
        echo "$tid" >"$dir/tasks" || die "cannot move thread $tid into $dir"
    done
}

remove_cpu_groups() {
    local dir
    for dir in "${CPU_GROUPS_MADE[@]}"; do
        rmdir "$dir" 2>/dev/null || warn "cannot remove the cgroup $dir (threads left in it?)"
    done
    CPU_GROUPS_MADE=()
}

# --- network --------------------------------------------------------------------------

# Fails unless nothing listens on TCP PORT (IPv4 or IPv6, any address).
require_free_port() {
    local hex
    hex=$(printf ':%04X' "$1")
    # Column 2 is local_address (ADDR:PORT in hex), column 4 the state (0A = LISTEN).
    if awk -v p="$hex" 'FNR > 1 && $4 == "0A" && substr($2, length($2) - 4) == p {found = 1}
                        END {exit !found}' /proc/net/tcp /proc/net/tcp6 2>/dev/null; then
        die "port $1 is already in use on this machine; stop whatever listens there and retry"
    fi
}

# wait_ok NAME URL LOGFILE: waits (at most 15 s) until URL answers "ok" while NAME runs.
wait_ok() {
    local name=$1 url=$2 logfile=$3 i
    for ((i = 0; i < 150; i++)); do
        if ! is_alive "${PID_OF[$name]}"; then
            sed 's/^/    /' "$logfile" >&2 || true
            die "$name exited during start-up (log: $logfile)"
        fi
        if [[ $(curl -fsk --max-time 1 "$url" 2>/dev/null || true) == ok ]]; then return 0; fi
        sleep 0.1
    done
    die "$name did not answer on $url within 15 s (log: $logfile)"
}

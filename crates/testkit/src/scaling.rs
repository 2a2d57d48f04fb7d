//! Scaling group fixtures: ports for `process` instances and a provider running `ballast
//! echo`.

use std::path::Path;

/// A range of `n` free ports, below Linux's ephemeral range (where the test's own outgoing
/// connections take ports), from a random start so parallel tests rarely meet.
pub fn free_ports(n: u16) -> (u16, u16) {
    let start = fastrand::u16(0..1000);
    (0..1000u16)
        .map(|i| 20_000 + ((start + i) % 1000) * 12)
        .find(|&first| {
            (first..first + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok())
        })
        .map(|first| (first, first + n - 1))
        .expect("a free range of ports below 32768")
}

/// A `process` provider (its TOML line) running `bin echo` instances on `ports` free ports.
pub fn echo_provider(bin: &Path, ports: u16) -> String {
    let (first, last) = free_ports(ports);
    let echo = format!("{} echo --port {{port}}", bin.display());
    format!("provider = {{ process = {{ command = \"{echo}\", ports = \"{first}-{last}\", stop_timeout = \"2s\" }} }}")
}

/// A `command` provider's script: `launch NAME`, `terminate ID` and `list`, over `bin echo`
/// processes that outlive the Ballast that launched them (one port each from `first`, one
/// state file each in `state`, named by port and holding the process id).
pub fn echo_script(bin: &Path, state: &Path, first: u16) -> String {
    format!(
        r#"#!/bin/sh
# launch NAME | terminate ID | list: ballast echo processes, one port each.
state={state}
mkdir -p "$state"
case "$1" in
launch)
    n=$(ls "$state" | wc -l)
    port=$(({first} + n))
    while [ -e "$state/$port" ]; do port=$((port + 1)); done
    {bin} echo --port "$port" >/dev/null 2>&1 &
    echo "$!" > "$state/$port"
    printf '{{"id": "%s", "address": "127.0.0.1:%s"}}\n' "$!" "$port"
    ;;
terminate)
    for f in "$state"/*; do
        if [ "$(cat "$f")" = "$2" ]; then kill "$2"; rm "$f"; fi
    done
    ;;
list)
    printf '['
    sep=
    for f in "$state"/*; do
        [ -e "$f" ] || continue
        printf '%s{{"id": "%s", "address": "127.0.0.1:%s"}}' "$sep" "$(cat "$f")" "$(basename "$f")"
        sep=,
    done
    printf ']\n'
    ;;
esac
"#,
        state = state.display(),
        bin = bin.display(),
    )
}

/// Kills the processes an [`echo_script`] started (their ids are in `state`), when dropped.
pub struct ScriptInstances(pub std::path::PathBuf);

impl Drop for ScriptInstances {
    fn drop(&mut self) {
        for entry in std::fs::read_dir(&self.0).into_iter().flatten().flatten() {
            if let Ok(pid) = std::fs::read_to_string(entry.path()) {
                let _ = std::process::Command::new("kill").arg(pid.trim()).status();
            }
        }
    }
}

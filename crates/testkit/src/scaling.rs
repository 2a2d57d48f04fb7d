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

//! The process provider with real processes.

use std::time::Duration;

use super::*;

fn provider(command: &str, ports: RangeInclusive<u16>, stop: Duration) -> ProcessProvider {
    ProcessProvider::new(command, ports, stop, None)
}

/// A port range of `n` free ports (found by binding, then released).
fn free_ports(n: u16) -> RangeInclusive<u16> {
    loop {
        let first = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if first > 60000 {
            continue;
        }
        if (first..first + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()) {
            return first..=first + n - 1;
        }
    }
}

async fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !done() {
        assert!(Instant::now() < deadline, "{what} did not happen in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn instances_get_ports_of_their_own_and_stop_on_sigterm() {
    let ports = free_ports(2);
    let mut p = provider(
        "sleep 30; : {port} {name} {zone}",
        ports.clone(),
        Duration::from_secs(5),
    );
    let a = p.launch("app-1", Some("a")).await.unwrap();
    let b = p.launch("app-2", None).await.unwrap();
    assert_ne!(a.address, b.address);
    assert!(ports.contains(&a.address.port()) && ports.contains(&b.address.port()));
    assert_eq!(a.zone.as_deref(), Some("a"));
    assert!(matches!(
        p.launch("app-3", None).await,
        Err(ProviderError::NoPort(_))
    ));
    let started = Instant::now();
    p.terminate(&a.id).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "SIGTERM ended it"
    );
    assert_eq!(p.ids(), vec![b.id.clone()]);
    assert!(
        p.exited().is_empty(),
        "a terminated instance is not reported as exited"
    );
    // Its port is free for the next one.
    let c = p.launch("app-3", None).await.unwrap();
    assert_eq!(c.address.port(), a.address.port());
}

#[tokio::test]
async fn one_that_ignores_sigterm_is_killed_after_the_stop_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = ProcessProvider::new(
        "trap '' TERM; echo ready; while :; do sleep 1; done; : {port}",
        free_ports(1),
        Duration::from_millis(300),
        Some(dir.path().to_owned()),
    );
    let a = p.launch("stubborn", None).await.unwrap();
    // Signalled before its trap is set, it would just die: wait until it is.
    let log = dir.path().join("stubborn.log");
    wait_for("the trap", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("ready"))
    })
    .await;
    let started = Instant::now();
    p.terminate(&a.id).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "it outlived SIGTERM until SIGKILL"
    );
    assert!(p.ids().is_empty());
}

#[tokio::test]
async fn a_process_killed_from_outside_is_reported_once() {
    let mut p = provider("sleep 30; : {port}", free_ports(1), Duration::from_secs(5));
    let a = p.launch("victim", None).await.unwrap();
    let pid = rustix::process::Pid::from_raw(a.id.parse().unwrap()).unwrap();
    rustix::process::kill_process_group(pid, rustix::process::Signal::KILL).unwrap();
    let mut gone = Vec::new();
    wait_for("the exit to be seen", || {
        gone.extend(p.exited());
        !gone.is_empty()
    })
    .await;
    assert_eq!(gone, vec![a.id]);
    assert!(p.exited().is_empty());
}

#[tokio::test]
async fn cpu_use_is_read_from_proc_and_output_goes_to_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = ProcessProvider::new(
        "echo started {name}; while :; do :; done; : {port}",
        free_ports(1),
        Duration::from_secs(1),
        Some(dir.path().to_owned()),
    );
    let a = p.launch("busy", None).await.unwrap();
    assert_eq!(
        p.cpu(&a.id),
        None,
        "the first reading has nothing to compare with"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let cpu = p.cpu(&a.id).unwrap();
    assert!((0.0..=400.0).contains(&cpu), "{cpu}");
    let log = dir.path().join("busy.log");
    wait_for("the log line", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("started busy"))
    })
    .await;
    p.terminate(&a.id).await.unwrap();
}

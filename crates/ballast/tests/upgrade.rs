//! Binary upgrade without downtime: a second `ballast run` takes the listening sockets of the
//! first through `server.upgrade_socket`; the first drains and exits, and no connection
//! attempt made during the switch fails.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::get_request;
use ballast_testkit::{Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_process_takes_over_the_sockets_while_load_runs() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("upgrade.sock");
    let cfg = format!(
        "[server]\nworkers = 2\nupgrade_socket = \"{}\"\n[admin]\nbind = \"127.0.0.1:0\"\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n[target_groups.app]\ntargets = [\"{}\"]\n",
        socket.display(),
        app.addr
    );
    let mut old = BallastProcess::start(bin(), &cfg);
    let addr = old.addr("web");
    let admin_addr = old.admin_addr();
    old.wait_for_log("listening for binary upgrades", Duration::from_secs(5));

    // New connections, one request each, the whole time.
    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failures) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let (stop, sent, failures) =
                (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failures));
            tokio::spawn(async move {
                for _ in 0..50_000 {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let ok = match tokio::net::TcpStream::connect(addr).await {
                        Ok(stream) => h1_get(stream, addr).await,
                        Err(_) => false,
                    };
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    let wait_for_more = |n: usize| {
        let sent = Arc::clone(&sent);
        async move {
            let before = sent.load(Ordering::Relaxed);
            ballast_testkit::wait_until("more traffic", Duration::from_secs(10), || {
                sent.load(Ordering::Relaxed) >= before + n
            })
            .await;
        }
    };
    wait_for_more(200).await;

    let new = BallastProcess::start(bin(), &cfg);
    assert_eq!(
        new.addr("web"),
        addr,
        "the new process serves the same socket"
    );
    assert_eq!(new.admin_addr(), admin_addr);
    new.wait_for_log(
        "took over the running process's sockets",
        Duration::from_secs(5),
    );
    let status = old.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "old process exited with {status:?}");
    wait_for_more(300).await;
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        client.await.unwrap();
    }
    let total = sent.load(Ordering::Relaxed);
    eprintln!("{total} connection attempts across the upgrade");
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "of {total} connection attempts"
    );
    assert!(AdminClient::new(admin_addr).get("/healthz").await.status == 200);
    // The new process can itself be upgraded: it listens on the path now.
    new.wait_for_log("listening for binary upgrades", Duration::from_secs(5));
}

/// One GET on an already connected stream.
async fn h1_get(stream: tokio::net::TcpStream, addr: std::net::SocketAddr) -> bool {
    let io = hyper_util::rt::TokioIo::new(stream);
    let Ok((mut sender, conn)) = hyper::client::conn::http1::handshake(io).await else {
        return false;
    };
    tokio::spawn(conn);
    matches!(sender.send_request(get_request(addr, "/")).await, Ok(r) if r.status() == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_sockets_of_a_tcp_udp_listener_are_handed_over_too() {
    let target = ballast_testkit::UdpTagged::spawn("a").await;
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("upgrade.sock");
    let cfg = format!(
        "[server]\nworkers = 2\nupgrade_socket = \"{}\"\n[listeners.dns]\nbind = \"127.0.0.1:0\"\nprotocol = \"tcp_udp\"\ndefault_action = {{ forward = \"dns\" }}\n[target_groups.dns]\nprotocol = \"tcp_udp\"\ntargets = [\"{}\"]\n",
        socket.display(),
        target.addr
    );
    let mut old = BallastProcess::start(bin(), &cfg);
    let addr = old.addr("dns");
    old.wait_for_log("listening for binary upgrades", Duration::from_secs(5));
    let before = udp_sockets_on(addr.port());
    assert_eq!(before.len(), 2, "one socket per worker: {before:?}");

    // Requests, one datagram each, the whole time. None may go unanswered: what waits in
    // the sockets is read by the new process, and the old one's flows still pass on the
    // replies on their way. (One lost would be asked again and counted, so the failure says
    // how many.)
    let stop = Arc::new(AtomicBool::new(false));
    let (answered, asked_again) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let client = {
        let (stop, answered, asked_again) = (
            Arc::clone(&stop),
            Arc::clone(&answered),
            Arc::clone(&asked_again),
        );
        tokio::spawn(async move {
            let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            udp.connect(addr).await.unwrap();
            let mut buf = [0u8; 64];
            for n in 0..200_000u32 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                let ask = n.to_string();
                let mut tries = 0;
                loop {
                    udp.send(ask.as_bytes()).await.unwrap();
                    let wait = tokio::time::timeout(Duration::from_secs(3), udp.recv(&mut buf));
                    match wait.await {
                        Ok(Ok(got)) if buf[..got] == *format!("a:{ask}").as_bytes() => break,
                        // A late answer to an earlier ask: wait for this one.
                        Ok(Ok(_)) => continue,
                        _ => {
                            tries += 1;
                            asked_again.fetch_add(1, Ordering::Relaxed);
                            assert!(tries < 5, "datagram {n} never answered");
                        }
                    }
                }
                answered.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let wait_for_more = |n: usize| {
        let answered = Arc::clone(&answered);
        async move {
            let before = answered.load(Ordering::Relaxed);
            ballast_testkit::wait_until("more answers", Duration::from_secs(10), || {
                answered.load(Ordering::Relaxed) >= before + n
            })
            .await;
        }
    };
    wait_for_more(200).await;
    let new = BallastProcess::start(bin(), &cfg);
    assert_eq!(new.addr("dns"), addr);
    let took = new.wait_for_log(
        "took over the running process's sockets",
        Duration::from_secs(5),
    );
    assert_eq!(took["udp_sockets"], 2, "{took}");
    assert_eq!(took["sockets"], 2, "the TCP side's too: {took}");
    let status = old.wait_exit(Duration::from_secs(30));
    assert!(status.success(), "old process exited with {status:?}");
    wait_for_more(200).await;
    stop.store(true, Ordering::Relaxed);
    client.await.unwrap();
    // The very sockets (and what waited in their buffers) went on, none was bound anew.
    assert_eq!(udp_sockets_on(addr.port()), before);
    let (answered, asked_again) = (
        answered.load(Ordering::Relaxed),
        asked_again.load(Ordering::Relaxed),
    );
    eprintln!("{answered} datagrams answered across the upgrade, {asked_again} asked again");
    assert_eq!(asked_again, 0, "replies lost of {answered}");
}

/// The inodes of the IPv4 UDP sockets bound to `port` (from /proc/net/udp), sorted.
fn udp_sockets_on(port: u16) -> Vec<u64> {
    let table = std::fs::read_to_string("/proc/net/udp").unwrap();
    let suffix = format!(":{port:04X}");
    let mut inodes: Vec<u64> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local = fields.get(1)?;
            local
                .ends_with(&suffix)
                .then(|| fields.get(9)?.parse().ok())
                .flatten()
        })
        .collect();
    inodes.sort_unstable();
    inodes
}

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

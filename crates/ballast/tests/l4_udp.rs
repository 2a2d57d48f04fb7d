//! UDP listeners through the real binary: flows stuck to one target each, a real DNS server
//! (dnsmasq) behind a `udp` and a `tcp_udp` listener queried by a real client (dig), the
//! bounded flow table evicting and counting, and idle flows forgotten.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ballast_testkit::admin::{target_series, AdminClient as Admin};
use ballast_testkit::{access_log_lines, toml_targets, wait_until, BallastProcess, UdpTagged};
use tokio::net::UdpSocket;

const WAIT: Duration = Duration::from_secs(10);

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn udp_config(protocol: &str, targets: &[SocketAddr], listener: &str) -> String {
    format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[listeners.dns]\nbind = \"127.0.0.1:0\"\nprotocol = \"{protocol}\"\ndefault_action = {{ forward = \"dns\" }}\n{listener}\n\n[target_groups.dns]\nprotocol = \"{protocol}\"\ntargets = [{}]\n",
        toml_targets(targets)
    )
}

/// Sends `payload` from `socket` to `to` and returns the reply.
async fn ask(socket: &UdpSocket, to: SocketAddr, payload: &[u8]) -> Vec<u8> {
    socket.send_to(payload, to).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(WAIT, socket.recv_from(&mut buf))
        .await
        .expect("a reply in time")
        .unwrap();
    // Replies come from the listener's own address.
    assert_eq!(from, to);
    buf.truncate(n);
    buf
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_sticks_to_one_target_and_replies_come_from_the_listener() {
    let (a, b) = (UdpTagged::spawn("a").await, UdpTagged::spawn("b").await);
    let ballast = BallastProcess::start(bin(), &udp_config("udp", &[a.addr, b.addr], ""));
    let addr = ballast.addr("dns");
    let mut tags = Vec::new();
    // Every client's socket stays open to the end: a closed one's port could be bound again
    // by the next client, which would then be the same flow (CI once counted 19 flows).
    let mut clients = Vec::new();
    for client in 0..20 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let mut seen = Vec::new();
        for i in 0..5 {
            let payload = format!("c{client}-{i}");
            let reply = ask(&socket, addr, payload.as_bytes()).await;
            let (tag, rest) = reply.split_at(2);
            assert_eq!(rest, payload.as_bytes());
            seen.push(tag.to_vec());
        }
        assert!(
            seen.iter().all(|t| *t == seen[0]),
            "client {client} moved: {seen:?}"
        );
        tags.push(seen[0].clone());
        clients.push(socket);
    }
    assert!(tags.contains(&b"a:".to_vec()) && tags.contains(&b"b:".to_vec()));
    let admin = Admin::new(ballast.admin_addr());
    assert_eq!(
        admin
            .metric("ballast_listener_connections_total{listener=\"dns\"}")
            .await,
        20.0
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_flow_table_is_bounded_and_idle_flows_are_forgotten() {
    let target = UdpTagged::spawn("t").await;
    let ballast = BallastProcess::start(
        bin(),
        &udp_config(
            "udp",
            &[target.addr],
            "max_udp_flows = 2\nudp_idle_timeout = \"1s\"\n[server]\nworkers = 1",
        ),
    );
    let addr = ballast.addr("dns");
    let clients =
        futures_util::future::join_all((0..5).map(|_| UdpSocket::bind("127.0.0.1:0"))).await;
    for socket in &clients {
        let socket = socket.as_ref().unwrap();
        ask(socket, addr, b"x").await;
    }
    let admin = Admin::new(ballast.admin_addr());
    let evicted = "ballast_listener_limit_hits_total{listener=\"dns\",limit=\"max_udp_flows\"}";
    assert_eq!(admin.metric(evicted).await, 3.0);
    // Idle for over the timeout: the flow is forgotten, and the next datagram opens a new
    // one (a new socket toward the target).
    let first = clients[4].as_ref().unwrap();
    let peers_before = target.peers.lock().unwrap().len();
    let active = "ballast_listener_connections_active{listener=\"dns\"}";
    let deadline = tokio::time::Instant::now() + WAIT;
    while admin.metric(active).await > 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "idle flows were not forgotten"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ask(first, addr, b"again").await;
    assert_eq!(target.peers.lock().unwrap().len(), peers_before + 1);
}

/// dnsmasq on a free port of 127.0.0.1, answering `*.example.test` with 192.0.2.7 over UDP
/// and TCP.
struct Dnsmasq {
    port: u16,
    child: Child,
}

impl Dnsmasq {
    /// Started and answering; a port another process took meanwhile (dnsmasq then exits)
    /// is replaced by another.
    async fn start() -> Dnsmasq {
        for _ in 0..5 {
            let mut dns = Dnsmasq::spawn();
            let target = SocketAddr::from(([127, 0, 0, 1], dns.port));
            let deadline = tokio::time::Instant::now() + WAIT;
            while tokio::time::Instant::now() < deadline {
                if dns.child.try_wait().unwrap().is_some() {
                    break;
                }
                if dig(target, "a.example.test", false).is_some() {
                    return dns;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        panic!("dnsmasq did not start answering");
    }

    /// dnsmasq on a port free for both UDP and TCP a moment ago.
    fn spawn() -> Dnsmasq {
        let port = loop {
            let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            let port = udp.local_addr().unwrap().port();
            if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
                break port;
            }
        };
        let child = Command::new("dnsmasq")
            .args([
                "--no-daemon",
                "--bind-interfaces",
                "--listen-address=127.0.0.1",
                "--no-resolv",
                "--no-hosts",
                "--conf-file=/dev/null",
                "--pid-file=",
                "--user=root",
                "--address=/example.test/192.0.2.7",
            ])
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dnsmasq (Debian's dnsmasq-base; scripts/test.sh installs it)");
        Dnsmasq { port, child }
    }
}

impl Drop for Dnsmasq {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `dig @addr NAME +short` (over TCP with `tcp`), or `None` when it got no answer.
fn dig(addr: SocketAddr, name: &str, tcp: bool) -> Option<String> {
    let mut command = Command::new("dig");
    command.arg(format!("@{}", addr.ip())).args([
        "-p",
        &addr.port().to_string(),
        name,
        "+short",
        "+time=2",
        "+tries=1",
    ]);
    if tcp {
        command.arg("+tcp");
    }
    let out = command.output().expect("dig (Debian's bind9-dnsutils)");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.is_empty() && !text.starts_with(';')).then_some(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_dns_server_answers_through_udp_and_tcp_udp_listeners() {
    let dns = Dnsmasq::start().await;
    let target = SocketAddr::from(([127, 0, 0, 1], dns.port));
    let udp = BallastProcess::start(bin(), &udp_config("udp", &[target], ""));
    assert_eq!(
        dig(udp.addr("dns"), "a.example.test", false).as_deref(),
        Some("192.0.2.7")
    );
    // One port for both, as DNS needs (NLB's TCP_UDP).
    let both = BallastProcess::start(bin(), &udp_config("tcp_udp", &[target], ""));
    let addr = both.addr("dns");
    assert_eq!(
        dig(addr, "b.example.test", false).as_deref(),
        Some("192.0.2.7")
    );
    assert_eq!(
        dig(addr, "c.example.test", true).as_deref(),
        Some("192.0.2.7")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_flow_gets_one_access_log_line_when_it_ends_and_its_ending_is_counted() {
    let target = UdpTagged::spawn("t").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let ballast = BallastProcess::start(
        bin(),
        &udp_config(
            "udp",
            &[target.addr],
            &format!(
                "max_udp_flows = 1\nudp_idle_timeout = \"1s\"\n[server]\nworkers = 1\n[access_log]\npath = \"{}\"",
                log.display()
            ),
        ),
    );
    let addr = ballast.addr("dns");
    let (first, second) = (
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        UdpSocket::bind("127.0.0.1:0").await.unwrap(),
    );
    // Two datagrams each way for the first flow (replies are tagged "t:" by the target).
    assert_eq!(ask(&first, addr, b"12345").await, b"t:12345");
    assert_eq!(ask(&first, addr, b"678").await, b"t:678");
    // The table holds one flow: the second client's evicts the first one.
    assert_eq!(ask(&second, addr, b"abc").await, b"t:abc");
    // The second flow ends idle.
    wait_until("two flows' log lines", WAIT, || {
        access_log_lines(&log).len() == 2
    })
    .await;
    let lines = access_log_lines(&log);
    let line_of = |client: &UdpSocket| {
        let client = client.local_addr().unwrap().to_string();
        lines
            .iter()
            .find(|l| l["client"] == client.as_str())
            .cloned()
            .unwrap_or_else(|| panic!("no line for {client}: {lines:?}"))
    };
    let evicted = line_of(&first);
    assert_eq!(evicted["listener"], "dns", "{evicted}");
    assert_eq!(evicted["request"], "udp", "{evicted}");
    assert_eq!(evicted["target"], target.addr.to_string(), "{evicted}");
    assert_eq!(evicted["target_group"], "dns", "{evicted}");
    assert_eq!(evicted["received_bytes"], 8, "{evicted}");
    assert_eq!(evicted["sent_bytes"], 12, "{evicted}");
    assert_eq!(evicted["action"], "forward", "{evicted}");
    assert_eq!(
        evicted["error_reason"], "Listener.FlowTableFull",
        "{evicted}"
    );
    let idle = line_of(&second);
    assert_eq!(idle["received_bytes"], 3, "{idle}");
    assert_eq!(idle["sent_bytes"], 5, "{idle}");
    assert_eq!(idle["error_reason"], "Connection.IdleTimeout", "{idle}");
    let admin = Admin::new(ballast.admin_addr());
    let ended = |ending: &str| {
        format!("ballast_l4_connections_ended_total{{listener=\"dns\",ending=\"{ending}\"}}")
    };
    assert_eq!(admin.metric(&ended("evicted")).await, 1.0);
    assert_eq!(admin.metric(&ended("idle_timeout")).await, 1.0);
    // The target's own bytes (11 sent to it, 17 back) and endings.
    let of_target = |name: &str, more: &str| target_series(name, "dns", target.addr, more);
    let sent = of_target("ballast_target_sent_bytes_total", "");
    let received = of_target("ballast_target_received_bytes_total", "");
    let evicted = of_target(
        "ballast_target_connections_ended_total",
        ",ending=\"evicted\"",
    );
    assert_eq!(admin.metric(&sent).await, 11.0);
    assert_eq!(admin.metric(&received).await, 17.0);
    assert_eq!(admin.metric(&evicted).await, 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flows_beyond_ballasts_descriptors_are_refused_as_its_own_fault_and_it_recovers() {
    let target = UdpTagged::spawn("t").await;
    // 64 descriptors: the data plane may hold 32 sockets, one per flow.
    let ballast = BallastProcess::start_with_fd_limit(
        bin(),
        &udp_config(
            "udp",
            &[target.addr],
            "udp_idle_timeout = \"1s\"\n[server]\nworkers = 1",
        ),
        64,
    );
    let addr = ballast.addr("dns");
    let admin = Admin::new(ballast.admin_addr());
    let refused = |reason: &str| {
        format!("ballast_l4_connections_refused_total{{listener=\"dns\",reason=\"{reason}\"}}")
    };
    let opened = "ballast_listener_connections_total{listener=\"dns\"}";
    let mut clients = Vec::new();
    for i in 0..40 {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        socket
            .send_to(format!("{i}").as_bytes(), addr)
            .await
            .unwrap();
        clients.push(socket);
    }
    // Every first datagram either opened a flow or was refused, and some were refused.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (open, exhausted) = (
            admin.metric(opened).await,
            admin.metric(&refused("Ballast.ResourceExhausted")).await,
        );
        if open + exhausted == 40.0 && exhausted > 0.0 {
            assert!(open <= 32.0, "{open} flows opened with 32 sockets");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "opened {open}, refused {exhausted}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The target is not blamed, and the operator is told whose limit it is.
    assert_eq!(
        admin.metric(&refused("Target.ConnectionRefused")).await,
        0.0
    );
    ballast.wait_for_log(
        "UDP flow not opened: Ballast's file descriptor budget is spent (raise ulimit -n)",
        WAIT,
    );
    // Once the flows idle out, their sockets are free: a refused client now gets through.
    let active = "ballast_listener_connections_active{listener=\"dns\"}";
    let deadline = tokio::time::Instant::now() + WAIT;
    while admin.metric(active).await > 0.0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "flows never idled out"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(ask(&clients[39], addr, b"again").await, b"t:again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_way_flow_keeps_its_socket_while_the_client_sends() {
    // A target that never answers (syslog, statsd): only the client's datagrams keep the
    // flow, past the flow's own backstop of twice the idle timeout.
    let sink = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let ballast = BallastProcess::start(
        bin(),
        &udp_config(
            "udp",
            &[sink.local_addr().unwrap()],
            "udp_idle_timeout = \"2s\"\n[server]\nworkers = 1",
        ),
    );
    let addr = ballast.addr("dns");
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut sources = std::collections::HashSet::new();
    let mut buf = [0u8; 64];
    // 25 datagrams 200 ms apart: 5 s, past the 4 s backstop.
    for i in 0..25 {
        client
            .send_to(format!("line {i}").as_bytes(), addr)
            .await
            .unwrap();
        let (_, from) = tokio::time::timeout(WAIT, sink.recv_from(&mut buf))
            .await
            .expect("the datagram in time")
            .unwrap();
        sources.insert(from);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sources.len(), 1, "the flow was reopened: {sources:?}");
}

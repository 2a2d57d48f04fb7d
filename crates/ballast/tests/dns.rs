//! The authoritative DNS server through the real binary, asked by real clients: `dig` (from
//! Debian's bind9-dnsutils) and hickory's message types over UDP and TCP sockets. Every record
//! type, the negative answers, REFUSED outside the zones, TCP fallback, failover following
//! a TCP health check as its endpoint stops and comes back, weighted shares, multivalue,
//! response rate limiting, and malformed packets.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use ballast_testkit::dns::{addresses, ask, dns_addr, wait_for_answer, Endpoint};
use ballast_testkit::BallastProcess;
use hickory_proto::op::{Edns, Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::{TcpListener, UdpSocket};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// `dig` with `args` against `server`, its stdout.
fn dig(server: SocketAddr, args: &[&str]) -> String {
    let output = Command::new("dig")
        .arg(format!("@{}", server.ip()))
        .arg("-p")
        .arg(server.port().to_string())
        .args(["+time=2", "+tries=2"])
        .args(args)
        .output()
        .expect("dig runs (apt-get install -y bind9-dnsutils)");
    assert!(output.status.success(), "dig {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap()
}

fn short(server: SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let mut lines: Vec<String> = dig(server, &[name, qtype, "+short"])
        .lines()
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

const ZONE: &str = r#"
[dns.zones."example.test."]
ns = ["ns1", "ns2"]
records = [
  { name = "@", type = "A", values = ["192.0.2.1"] },
  { name = "v6", type = "AAAA", values = ["2001:db8::1"] },
  { name = "www", type = "CNAME", values = ["example.test."] },
  { name = "@", type = "TXT", values = ["v=spf1 -all"] },
  { name = "@", type = "MX", values = ["10 mail.example.test."] },
  { name = "_sip._tcp", type = "SRV", values = ["10 5 5060 sip.example.test."] },
  { name = "@", type = "CAA", values = ["0 issue \"letsencrypt.org\""] },
"#;

fn forty() -> String {
    let values: Vec<String> = (1..=40).map(|i| format!("\"198.51.100.{i}\"")).collect();
    format!(
        "  {{ name = \"many\", type = \"A\", values = [{}] }},\n",
        values.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_type_negative_answers_refusal_and_tcp_fallback() {
    let config = format!(
        "[dns]\nbind = \"127.0.0.1:0\"\nresponses_per_second = 0\n{ZONE}{}]\n",
        forty()
    );
    let ballast = BallastProcess::start(bin(), &config);
    let server = dns_addr(&ballast);
    assert_eq!(short(server, "example.test", "A"), ["192.0.2.1"]);
    assert_eq!(short(server, "v6.example.test", "AAAA"), ["2001:db8::1"]);
    assert_eq!(
        short(server, "www.example.test", "A"),
        ["192.0.2.1", "example.test."]
    );
    assert_eq!(short(server, "example.test", "TXT"), ["\"v=spf1 -all\""]);
    assert_eq!(
        short(server, "example.test", "MX"),
        ["10 mail.example.test."]
    );
    assert_eq!(
        short(server, "_sip._tcp.example.test", "SRV"),
        ["10 5 5060 sip.example.test."]
    );
    assert_eq!(
        short(server, "example.test", "CAA"),
        ["0 issue \"letsencrypt.org\""]
    );
    assert_eq!(
        short(server, "example.test", "NS"),
        ["ns1.example.test.", "ns2.example.test."]
    );
    let soa = short(server, "example.test", "SOA");
    assert!(
        soa[0].starts_with("ns1.example.test. hostmaster.example.test. 1 "),
        "{soa:?}"
    );

    // Authoritative, no recursion offered, even when dig asks for it.
    let full = dig(server, &["example.test", "A"]);
    assert!(full.contains("flags: qr aa rd;"), "{full}");
    // NXDOMAIN and NODATA, each with the SOA in the authority section.
    let missing = ask(server, "nope.example.test.", RecordType::A).await;
    assert_eq!(missing.metadata.response_code, ResponseCode::NXDomain);
    assert!(missing.metadata.authoritative);
    assert_eq!(missing.authorities[0].record_type(), RecordType::SOA);
    let nodata = ask(server, "v6.example.test.", RecordType::A).await;
    assert_eq!(nodata.metadata.response_code, ResponseCode::NoError);
    assert!(nodata.answers.is_empty());
    assert_eq!(nodata.authorities[0].record_type(), RecordType::SOA);
    assert_eq!(nodata.edns.as_ref().map(Edns::max_payload), Some(1232));
    // Outside the zones: REFUSED, recursion or not.
    let outside = ask(server, "example.org.", RecordType::A).await;
    assert_eq!(outside.metadata.response_code, ResponseCode::Refused);
    assert!(dig(server, &["example.org", "A"]).contains("status: REFUSED"));

    // 40 records do not fit 512 bytes: truncated over UDP, and dig asks again over TCP.
    let udp = dig(server, &["many.example.test", "A", "+noedns", "+ignore"]);
    assert!(udp.contains(" tc "), "{udp}");
    let fallback = dig(server, &["many.example.test", "A", "+noedns"]);
    assert!(fallback.contains("ANSWER: 40"), "{fallback}");
    assert!(
        fallback.contains("Truncated, retrying in TCP mode"),
        "{fallback}"
    );
    assert_eq!(short(server, "many.example.test", "A").len(), 40);

    // Garbage, a runt and a response: nothing crashes and the next query is answered.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    for junk in [
        &b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xff\xff"[..],
        b"\x01",
        b"\x00\x01\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00",
    ] {
        socket.send_to(junk, server).await.unwrap();
    }
    let mut buffer = [0u8; 512];
    let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    let formerr = Message::from_vec(&buffer[..len]).unwrap();
    assert_eq!(formerr.metadata.response_code, ResponseCode::FormErr);
    assert_eq!(formerr.metadata.id, 0x1234);
    assert_eq!(
        addresses(&ask(server, "example.test.", RecordType::A).await),
        ["192.0.2.1"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_weighted_and_multivalue_follow_health() {
    let mut primary = Endpoint::start(None).await;
    let secondary = Endpoint::start(None).await;
    // Bound, then closed: connections to it are refused.
    let mut gone = Endpoint::start(None).await;
    gone.stop().await;
    let down = gone.address;
    let config = format!(
        r#"[dns]
bind = "127.0.0.1:0"
responses_per_second = 0

[dns.zones."example.test."]
ns = ["ns1"]
records = [
  {{ name = "site", type = "A", routing = "failover", members = [
    {{ values = ["192.0.2.10"], role = "primary", health_check = "primary" }},
    {{ values = ["192.0.2.20"], role = "secondary", health_check = "secondary" }},
  ] }},
  {{ name = "w", type = "A", routing = "weighted", members = [
    {{ values = ["192.0.2.31"], weight = 3 }},
    {{ values = ["192.0.2.32"], weight = 1 }},
    {{ values = ["192.0.2.33"], weight = 50, health_check = "down" }},
  ] }},
  {{ name = "mv", type = "A", routing = "multivalue", members = [
    {{ values = ["192.0.2.41"], health_check = "secondary" }},
    {{ values = ["192.0.2.42"], health_check = "down" }},
    {{ values = ["192.0.2.43"] }},
  ] }},
]

[dns.health_checks.primary]
type = "tcp"
endpoint = "{}"
interval = "1s"
timeout = "500ms"
failure_threshold = 2

[dns.health_checks.secondary]
type = "tcp"
endpoint = "{}"
interval = "1s"
timeout = "500ms"
failure_threshold = 2

[dns.health_checks.down]
type = "tcp"
endpoint = "{down}"
interval = "1s"
timeout = "500ms"
failure_threshold = 1
"#,
        primary.address, secondary.address
    );
    let ballast = BallastProcess::start(bin(), &config);
    let server = dns_addr(&ballast);
    let limit = Duration::from_secs(30);
    wait_for_answer(server, "site.example.test.", &["192.0.2.10"], limit).await;
    // Multivalue: the healthy members only, once the down check has failed.
    wait_for_answer(
        server,
        "mv.example.test.",
        &["192.0.2.41", "192.0.2.43"],
        limit,
    )
    .await;

    // Weighted, over 10,000 answers: 3 : 1, and the unhealthy heavy member never.
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut buffer = vec![0u8; 1500];
    for _ in 0..10_000 {
        let mut request = Message::query();
        request.add_query(Query::query(
            Name::from_ascii("w.example.test.").unwrap(),
            RecordType::A,
        ));
        socket
            .send_to(&request.to_vec().unwrap(), server)
            .await
            .unwrap();
        let (len, _) = tokio::time::timeout(Duration::from_secs(5), socket.recv_from(&mut buffer))
            .await
            .unwrap()
            .unwrap();
        let answer = Message::from_vec(&buffer[..len]).unwrap();
        for a in addresses(&answer) {
            *counts.entry(a).or_default() += 1;
        }
    }
    let share = f64::from(counts["192.0.2.31"]) / 10_000.0;
    assert!((share - 0.75).abs() < 0.025, "{counts:?}");
    assert!(!counts.contains_key("192.0.2.33"), "{counts:?}");

    // The primary's endpoint stops: the secondary is answered within interval x threshold
    // (2 s) and a check's time; then it comes back.
    primary.stop().await;
    let switched = wait_for_answer(server, "site.example.test.", &["192.0.2.20"], limit).await;
    let _restarted = Endpoint::start(Some(primary.address)).await;
    let back = wait_for_answer(server, "site.example.test.", &["192.0.2.10"], limit).await;
    println!("failover after {switched:?}, back after {back:?} (interval 1 s, threshold 2)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_rate_limiting_slips_and_drops_over_the_rate() {
    let config = format!("[dns]\nbind = \"127.0.0.1:0\"\nresponses_per_second = 20\n{ZONE}]\n");
    let ballast = BallastProcess::start(bin(), &config);
    let server = dns_addr(&ballast);
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut request = Message::query();
    request.add_query(Query::query(
        Name::from_ascii("example.test.").unwrap(),
        RecordType::A,
    ));
    let bytes = request.to_vec().unwrap();
    // 200 queries at once: 20 answered, then one in two truncated, the rest dropped.
    for _ in 0..200 {
        socket.send_to(&bytes, server).await.unwrap();
    }
    let (mut full, mut truncated) = (0, 0);
    let mut buffer = [0u8; 1500];
    while let Ok(Ok((len, _))) =
        tokio::time::timeout(Duration::from_millis(500), socket.recv_from(&mut buffer)).await
    {
        let answer = Message::from_vec(&buffer[..len]).unwrap();
        if answer.metadata.truncation {
            assert!(answer.answers.is_empty());
            truncated += 1;
        } else {
            full += 1;
        }
    }
    assert!((20..=30).contains(&full), "{full} full answers");
    assert!(
        truncated >= 60 && full + truncated < 200,
        "{full} full, {truncated} truncated"
    );
    // TCP is not limited: dig gets its answer.
    assert_eq!(
        dig(server, &["example.test", "A", "+tcp", "+short"]).trim(),
        "192.0.2.1"
    );
}

/// An HTTP server answering every request with 200 and `body`, on a port of its own.
async fn http_server(body: &'static str) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut request = [0u8; 2048];
                let _ = stream.read(&mut request).await;
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes()).await;
            });
        }
    });
    address
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_check_looks_for_its_string_in_the_body() {
    let server = http_server("{\"status\": \"ready\"}").await;
    let config = format!(
        r#"[dns]
bind = "127.0.0.1:0"
responses_per_second = 0

[dns.zones."example.test."]
ns = ["ns1"]
records = [
  {{ name = "mv", type = "A", routing = "multivalue", members = [
    {{ values = ["192.0.2.1"], health_check = "has" }},
    {{ values = ["192.0.2.2"], health_check = "lacks" }},
  ] }},
]

[dns.health_checks.has]
type = "http"
endpoint = "{server}"
path = "/status"
search_string = "\"ready\""
interval = "1s"
failure_threshold = 1

[dns.health_checks.lacks]
type = "http"
endpoint = "{server}"
path = "/status"
search_string = "draining"
interval = "1s"
failure_threshold = 1
"#
    );
    let ballast = BallastProcess::start(bin(), &config);
    let dns = dns_addr(&ballast);
    wait_for_answer(
        dns,
        "mv.example.test.",
        &["192.0.2.1"],
        Duration::from_secs(30),
    )
    .await;
    // And it stays so over several checks of both: the string found keeps its member
    // healthy (were both unhealthy, multivalue would answer both).
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        let got = addresses(&ask(dns, "mv.example.test.", RecordType::A).await);
        assert_eq!(got, ["192.0.2.1"]);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// `[dns]` changes like the rest of the file: by SIGHUP and through the admin API, a bad
/// change refused with its key named while the running zones keep answering, and a new
/// `bind` moving the server (UDP and TCP).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zones_change_by_reload_and_through_the_admin_api() {
    use ballast_testkit::admin::AdminClient;
    let config = |value: &str, extra: &str| {
        format!(
            "[admin]\nbind = \"127.0.0.1:0\"\n\n[dns]\nbind = \"127.0.0.1:0\"\nresponses_per_second = 0\n\n[dns.zones.\"example.test.\"]\nns = [\"ns1\"]\nrecords = [\n  {{ name = \"www\", type = \"A\", values = [\"{value}\"] }},\n{extra}]\n"
        )
    };
    let ballast = BallastProcess::start(bin(), &config("192.0.2.1", ""));
    let server = dns_addr(&ballast);
    let admin = AdminClient::new(ballast.admin_addr());
    let limit = Duration::from_secs(20);
    assert_eq!(
        addresses(&ask(server, "www.example.test.", RecordType::A).await),
        ["192.0.2.1"]
    );

    ballast.rewrite_config(&config("192.0.2.99", ""));
    ballast.signal("HUP");
    wait_for_answer(server, "www.example.test.", &["192.0.2.99"], limit).await;

    // A whole document through the API adds a record set.
    let added = config(
        "192.0.2.99",
        "  { name = \"api\", type = \"A\", values = [\"192.0.2.7\"] },\n",
    );
    let reply = admin
        .call(
            http::Method::PUT,
            "/api/v1/config",
            "application/toml",
            added.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    wait_for_answer(server, "api.example.test.", &["192.0.2.7"], limit).await;

    // A bad value is refused at its key; the zones answer as before.
    let bad = config("192.0.2.300", "");
    let reply = admin
        .call(
            http::Method::PUT,
            "/api/v1/config",
            "application/toml",
            bad.into_bytes(),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.text);
    assert!(
        reply.text.contains("records[0].values[0]"),
        "{}",
        reply.text
    );
    assert_eq!(
        addresses(&ask(server, "api.example.test.", RecordType::A).await),
        ["192.0.2.7"]
    );

    // A new bind: the server moves there. The port is free on UDP and TCP, and below the
    // ephemeral range, where the suite's own outgoing connections take ports.
    let start = 20_000 + fastrand::u16(0..10_000);
    let port = (0..10_000u16)
        .map(|i| 20_000 + (start - 20_000 + i) % 10_000)
        .find(|&p| {
            std::net::UdpSocket::bind(("127.0.0.1", p)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", p)).is_ok()
        })
        .unwrap();
    let moved = config("192.0.2.5", "").replacen(
        "[dns]\nbind = \"127.0.0.1:0\"",
        &format!("[dns]\nbind = \"127.0.0.1:{port}\""),
        1,
    );
    let reloads = ballast.events_with("configuration reloaded").len();
    ballast.rewrite_config(&moved);
    ballast.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(10);
    while ballast.events_with("configuration reloaded").len() == reloads {
        assert!(
            Instant::now() < deadline,
            "not reloaded: {:#?}",
            ballast.events()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let there: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_for_answer(there, "www.example.test.", &["192.0.2.5"], limit).await;
    assert_eq!(
        dig(there, &["www.example.test", "A", "+tcp", "+short"]).trim(),
        "192.0.2.5",
        "and over TCP too"
    );
}

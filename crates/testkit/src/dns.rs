//! DNS test fixtures: the server's address from Ballast's log, one query over UDP with
//! hickory's messages (a real client's wire format), and a TCP endpoint a health check can
//! find up or down.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use hickory_proto::op::{Edns, Message, Query};
use hickory_proto::rr::{Name, RecordType};
use tokio::net::{TcpListener, UdpSocket};

use crate::BallastProcess;

/// The DNS server's address, from its start log line.
pub fn dns_addr(ballast: &BallastProcess) -> SocketAddr {
    let event = ballast.wait_for_log("DNS server started", Duration::from_secs(10));
    event["addr"].as_str().unwrap().parse().unwrap()
}

/// One query over UDP (EDNS, 1232 bytes); the answer, which must come within 5 s.
pub async fn ask(server: SocketAddr, name: &str, qtype: RecordType) -> Message {
    try_ask(server, name, qtype, Duration::from_secs(5))
        .await
        .expect("an answer within 5 s")
}

/// One query over UDP; the answer, or `None` when none came within `wait` (nothing serves
/// that address yet, or the datagram was lost).
pub async fn try_ask(
    server: SocketAddr,
    name: &str,
    qtype: RecordType,
    wait: Duration,
) -> Option<Message> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let mut request = Message::query();
    request.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut edns = Edns::new();
    edns.set_max_payload(1232);
    request.set_edns(edns);
    socket
        .send_to(&request.to_vec().unwrap(), server)
        .await
        .unwrap();
    let mut buffer = vec![0u8; 4096];
    let (len, _) = tokio::time::timeout(wait, socket.recv_from(&mut buffer))
        .await
        .ok()?
        .ok()?;
    let answer = Message::from_vec(&buffer[..len]).unwrap();
    assert_eq!(answer.metadata.id, request.metadata.id);
    Some(answer)
}

/// The answer section's data as text, sorted.
pub fn addresses(answer: &Message) -> Vec<String> {
    let mut out: Vec<String> = answer.answers.iter().map(|r| r.data.to_string()).collect();
    out.sort();
    out
}

/// Asks for `name`'s A records until the answer is `want`; how long it took. Panics after
/// `limit`.
pub async fn wait_for_answer(
    server: SocketAddr,
    name: &str,
    want: &[&str],
    limit: Duration,
) -> Duration {
    let started = Instant::now();
    loop {
        let answer = try_ask(server, name, RecordType::A, Duration::from_secs(1)).await;
        let got = answer.as_ref().map(addresses).unwrap_or_default();
        if got == want {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "{name}: {got:?}, not {want:?}, after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A TCP endpoint a health check finds up (it accepts and closes), until [`Endpoint::stop`].
pub struct Endpoint {
    /// Where it listens.
    pub address: SocketAddr,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Endpoint {
    /// Listens on `address` (a free port of 127.0.0.1 when `None`).
    pub async fn start(address: Option<SocketAddr>) -> Self {
        let wanted = address.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = TcpListener::bind(wanted).await.unwrap();
        let address = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                drop(stream);
            }
        });
        Self {
            address,
            task: Some(task),
        }
    }

    /// Closes the listener: connections to it are refused from now on.
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

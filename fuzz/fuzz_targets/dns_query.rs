//! A datagram to the DNS server: whatever the bytes, answering must never panic. A message
//! that parses gets an answer with its id (or none, for a response), which encodes within the
//! size asked for; one that does not parse gets a FORMERR or nothing.
#![no_main]

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Instant;

use ballast_dns::answer::{encode, format_error, respond, udp_limit};
use ballast_dns::snapshot::Sources;
use ballast_dns::DnsSnapshot;
use hickory_proto::op::Message;
use libfuzzer_sys::fuzz_target;

const ZONE: &str = r#"
[dns]
bind = "127.0.0.1:5353"
[dns.zones."example.com."]
ns = ["ns1"]
records = [
  { name = "@", type = "A", values = ["192.0.2.1"] },
  { name = "www", type = "CNAME", values = ["example.com."] },
  { name = "loop", type = "CNAME", values = ["loop.example.com."] },
  { name = "@", type = "TXT", values = ["hello"] },
  { name = "w", type = "A", routing = "weighted", members = [{ values = ["192.0.2.2"], weight = 1 }, { values = ["192.0.2.3"], weight = 0 }] },
  { name = "m", type = "A", routing = "multivalue", members = [{ values = ["192.0.2.4"] }, { values = ["192.0.2.5"] }] },
]
"#;

fn snapshot() -> &'static DnsSnapshot {
    static SNAPSHOT: OnceLock<DnsSnapshot> = OnceLock::new();
    SNAPSHOT.get_or_init(|| {
        let config = ballast_config::parse(ZONE).expect("the fuzz zone is valid");
        let states = HashMap::new();
        let sources = Sources {
            check_states: &states,
            group: &|_| Vec::new(),
            listener: &|_| None,
            cluster: &[],
        };
        DnsSnapshot::build(config.dns.as_ref().expect("[dns]"), &sources)
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(request) = Message::from_vec(data) else {
        if let Some(answer) = format_error(data) {
            assert!(answer.len() >= 12);
            assert_eq!(answer[..2], data[..2]);
        }
        return;
    };
    let mut random = |n: u64| n / 2;
    let Some(response) = respond(snapshot(), &request, Instant::now(), &mut random) else {
        return;
    };
    assert_eq!(response.metadata.id, request.metadata.id);
    let limit = udp_limit(&request);
    if let Some(bytes) = encode(&response, limit) {
        // What does not fit is cut to the header and question, which a query's own size
        // bounds.
        assert!(bytes.len() <= limit.max(data.len() + 64), "{} > {limit}", bytes.len());
    }
    let _ = encode(&response, usize::from(u16::MAX));
});

//! Desync mitigation modes end to end: every request of AWS's public desync corpus (the
//! cases inside the `http_desync_guardian` crate) sent through a listener in each mode,
//! and what the client sees checked against the mode's table: served (the connection stays
//! open), served then closed, or refused with 400. The target never receives a framing
//! field it could read differently from Ballast.

use std::path::Path;
use std::time::Duration;

use ballast_http::fuzzing::{body_framing, desync_verdict, read_leniently, BodyFraming};
use ballast_testkit::admin::AdminClient;
use ballast_testkit::client::raw;
use ballast_testkit::desync::{desync_corpus, DesyncCase};
use ballast_testkit::{Backend, BallastProcess, RawBackend, RawMode};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

/// Only a guard against a hang: every exchange here ends with a close.
const WAIT: Duration = Duration::from_secs(30);

const MODES: [&str; 3] = ["monitor", "defensive", "strictest"];

fn config(app: std::net::SocketAddr, log: &Path) -> String {
    let mut text = format!(
        "[admin]\nbind = \"127.0.0.1:0\"\n\n[access_log]\npath = \"{}\"\n\n[target_groups.app]\ntargets = [\"{app}\"]\n",
        log.display()
    );
    for mode in MODES {
        text.push_str(&format!(
            "\n[listeners.{mode}]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\ndesync_mitigation_mode = \"{mode}\"\n"
        ));
    }
    text
}

/// The access log's lines, once there are at least `n` (the writer drains every few ms).
async fn log_lines(path: &Path, n: usize) -> Vec<serde_json::Value> {
    let read = || -> Vec<serde_json::Value> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    ballast_testkit::wait_until("access log lines", Duration::from_secs(10), || {
        read().len() >= n
    })
    .await;
    read()
}

/// What a client saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    /// Both the case and the request after it were answered.
    Served,
    /// The case was answered by the target, then the connection closed.
    ServedThenClosed,
    /// Ballast answered 400 and closed.
    Refused,
}

/// The case's bytes with the body Ballast frames, then a plain request behind it.
fn wire(case: &DesyncCase) -> Vec<u8> {
    let mut bytes = case.raw();
    match body_framing(&bytes) {
        Some(BodyFraming::Length(n)) => bytes.extend(std::iter::repeat_n(b'x', n as usize)),
        Some(BodyFraming::Chunked) => bytes.extend_from_slice(b"0\r\n\r\n"),
        Some(BodyFraming::None) | None => {}
    }
    bytes.extend_from_slice(b"GET /after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    bytes
}

async fn send(addr: std::net::SocketAddr, case: &DesyncCase, log: &Path) -> Seen {
    let reply = raw(addr, &wire(case), WAIT).await;
    let text = reply.text();
    assert!(reply.closed, "{}: the connection stays open", case.name);
    // Every answer is a head and a two-byte body: count the status lines.
    let answers = text.matches("HTTP/1.1 ").count() + text.matches("HTTP/1.0 ").count();
    match (answers, reply.status()) {
        (2, _) => Seen::Served,
        (1, Some(400)) => Seen::Refused,
        (1, Some(200)) => Seen::ServedThenClosed,
        _ => panic!(
            "{}",
            std::fs::read_to_string(log)
                .unwrap_or_default()
                .lines()
                .last()
                .unwrap_or_default()
                .to_owned()
                + &format!(
                    "{}: unexpected reply {text:?} to {:?}",
                    case.name,
                    String::from_utf8_lossy(&case.raw())
                )
        ),
    }
}

/// What a mode must do with a class (ALB's table; Ballast closes after a head only its
/// lenient reading could read, and after ambiguous and severe requests in monitor mode).
fn expected(mode: &str, class: &str, lenient: bool) -> Seen {
    let served = if lenient {
        Seen::ServedThenClosed
    } else {
        Seen::Served
    };
    match (mode, class) {
        (_, "Compliant") | ("monitor" | "defensive", "Acceptable") => served,
        ("monitor", _) | ("defensive", "Ambiguous") => Seen::ServedThenClosed,
        _ => Seen::Refused,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_corpus_case_meets_its_modes_table_in_every_mode() {
    // A target that answers whatever it is sent (and reads on until Ballast closes), so
    // every answer seen is Ballast's decision, never a strict target's.
    let app = RawBackend::spawn(RawMode::AnswerAfterBody(
        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
    ))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lb = BallastProcess::start(bin(), &config(app.addr, &log));
    let corpus = desync_corpus();
    let mut wrong = Vec::new();
    let mut refused_anyway = Vec::new();
    let mut severe = 0;
    for case in &corpus {
        let raw = case.raw();
        let verdict = desync_verdict(&raw);
        let Ok(Some((class, _))) = verdict else {
            panic!("{}: no verdict ({verdict:?})", case.name);
        };
        // No request Ballast can route or write to a target, in any mode (a NUL before the
        // target's path, a method that is no token).
        let routable = body_framing(&raw).is_some();
        if !routable {
            refused_anyway.push(case.name.clone());
        }
        severe += usize::from(class == "Severe");
        for mode in MODES {
            let seen = send(lb.addr(mode), case, &log).await;
            let want = match routable {
                true => expected(mode, class, read_leniently(&raw)),
                false => Seen::Refused,
            };
            if seen != want {
                wrong.push(format!(
                    "{mode} / {} ({class}): expected {want:?}, saw {seen:?}",
                    case.name
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    // Every request is logged with its class and reason, refused ones as `Client.Desync`.
    let lines = log_lines(&log, corpus.len() * MODES.len()).await;
    let refused = |l: &&serde_json::Value| l["error_reason"] == "Client.Desync";
    for line in lines.iter().filter(refused) {
        assert_eq!(line["status"], 400, "{line}");
        assert_ne!(line["classification"], "Compliant", "{line}");
        assert!(line["target"].is_null(), "{line}");
    }
    let logged = |listener: &str, class: &str| {
        lines
            .iter()
            .filter(|l| l["listener"] == listener && l["classification"] == class)
            .count()
    };
    assert_eq!(logged("monitor", "Severe"), severe);
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["listener"] == "monitor")
            .filter(refused)
            .count(),
        refused_anyway.len(),
        "monitor refuses nothing for its class"
    );
    // And counted by class and reason.
    let admin = AdminClient::new(lb.admin_addr());
    let sample = "ballast_http_desync_requests_total{listener=\"defensive\",class=\"Ambiguous\",reason=\"SuspiciousHeader\"}";
    assert!(admin.metric(sample).await >= 10.0);
    assert!(
        refused_anyway.len() <= 2,
        "only a target with NUL before its path and a method that is no token are refused in every mode: {refused_anyway:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_reaches_the_target_has_one_framing_field_and_no_imitation() {
    let app = Backend::spawn("app").await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("access.log");
    let lb = BallastProcess::start(bin(), &config(app.addr, &log));
    // Monitor mode forwards every class: the most that can reach a target.
    for case in desync_corpus() {
        let _ = raw(lb.addr("monitor"), &wire(&case), WAIT).await;
    }
    let recorded = app.recorded();
    assert!(
        recorded.len() > 100,
        "{} requests reached the target",
        recorded.len()
    );
    for seen in recorded {
        let te = seen.headers.get_all("transfer-encoding").iter().count();
        let cl = seen.headers.get_all("content-length").iter().count();
        assert!(te + cl <= 1, "{} {:?}", seen.path, seen.headers);
        for name in seen.headers.keys() {
            let letters: String = name
                .as_str()
                .chars()
                .filter(char::is_ascii_alphanumeric)
                .collect();
            let framing = ["transferencoding", "contentlength"].contains(&letters.as_str());
            assert!(
                !framing || ["transfer-encoding", "content-length"].contains(&name.as_str()),
                "an imitation of a framing field reached the target: {name}"
            );
        }
    }
}

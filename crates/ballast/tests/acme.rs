//! ACME end to end against the real Pebble (Let's Encrypt's test CA) and its DNS stub:
//! Ballast obtains a certificate for `acme.test` by answering http-01 on its http listener
//! (or tls-alpn-01 on its https listener), serves it to a verifying TLS client, reuses it
//! from disk after a restart with the CA down, and keeps serving it when a renewal fails.
//!
//! Pebble validates on fixed ports, so these tests choose their listeners' ports up front
//! (`free_port`) instead of binding port 0. Skipped, with a message, only when the pebble
//! binaries are not installed (`.ci/run` installs them).

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ballast_testkit::pebble::{free_port, pebble_installed, Pebble};
use ballast_testkit::tls::{https_get, tls_connect_verified, Handshake};
use ballast_testkit::tls::{tls_connect, ClientOptions};
use ballast_testkit::{client, closed_port, Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn skip() -> bool {
    if pebble_installed() {
        return false;
    }
    eprintln!(
        "skipping: pebble and pebble-challtestsrv are not installed (apt-get install pebble)"
    );
    true
}

struct Setup<'a> {
    http_port: Option<u16>,
    tls_port: u16,
    directory: &'a str,
    ca: &'a Path,
    storage: &'a Path,
    challenge: &'a str,
    renew_before: &'a str,
    backend: SocketAddr,
}

fn config(s: &Setup<'_>) -> String {
    let plain = s.http_port.map_or(String::new(), |port| {
        format!("[listeners.plain]\nbind = \"127.0.0.1:{port}\"\ndefault_action = {{ forward = \"app\" }}\n")
    });
    format!(
        "[server]\nworkers = 1\n[admin]\nbind = \"127.0.0.1:0\"\n{plain}[listeners.web]\nbind = \"127.0.0.1:{}\"\nprotocol = \"https\"\ndefault_action = {{ forward = \"app\" }}\n[listeners.web.tls.acme]\ndirectory = \"{}\"\ndomains = [\"acme.test\"]\ncontact = [\"mailto:ops@acme.test\"]\nstorage = \"{}\"\nca = \"{}\"\nchallenge = \"{}\"\nrenew_before = \"{}\"\n[target_groups.app]\ntargets = [\"{}\"]\n",
        s.tls_port,
        s.directory,
        s.storage.display(),
        s.ca.display(),
        s.challenge,
        s.renew_before,
        s.backend,
    )
}

/// A verified handshake as `acme.test`, retried until `limit` (the certificate is published
/// just after the issuance is logged).
async fn connect_verified(addr: SocketAddr, root: &str, limit: Duration) -> Handshake {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tls_connect_verified(addr, "acme.test", root).await {
            Ok(handshake) => return handshake,
            Err(error) => assert!(
                tokio::time::Instant::now() < deadline,
                "no verified handshake for acme.test within {limit:?}: {error}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn files_named(dir: &Path, name: &str) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(files_named(&path, name));
        } else if path.file_name().is_some_and(|n| n == name) {
            found.push(path);
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http01_issues_reuses_from_disk_and_survives_a_failed_renewal() {
    if skip() {
        return;
    }
    let (http_port, tls_port) = (free_port(), free_port());
    let mut pebble = Pebble::start(http_port, tls_port).await;
    let root = pebble.issuing_root().await;
    let storage = tempfile::tempdir().unwrap();
    let backend = Backend::spawn("app").await;
    let ca = pebble.server_ca_file();
    let directory = pebble.directory.clone();
    let mut setup = Setup {
        http_port: Some(http_port),
        tls_port,
        directory: &directory,
        ca: &ca,
        storage: storage.path(),
        challenge: "http-01",
        renew_before: "30d",
        backend: backend.addr,
    };

    // 1. First start: nothing stored, a certificate is obtained over http-01.
    let started = std::time::Instant::now();
    let mut lb = BallastProcess::start(bin(), &config(&setup));
    let web = lb.addr("web");
    lb.wait_for_log("ACME certificate issued", Duration::from_secs(60));
    let handshake = connect_verified(web, &root, Duration::from_secs(10)).await;
    let issued = handshake.server_cert.clone();
    eprintln!("issued in {:?}", started.elapsed());
    assert!(!lb
        .events_with("answered an ACME http-01 challenge")
        .is_empty());
    let response = https_get(handshake, "acme.test", "/through-tls").await;
    assert_eq!(response.status(), 200);
    assert_eq!(backend.recorded()[0].path, "/through-tls");
    // An unknown token is not Ballast's to answer: it routes as any other request.
    let plain = SocketAddr::from(([127, 0, 0, 1], http_port));
    let response = client::get(plain, "/.well-known/acme-challenge/unknown").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        backend.recorded().last().unwrap().path,
        "/.well-known/acme-challenge/unknown"
    );
    // Operators see the certificate in the admin API and its expiry in the metrics.
    let admin = ballast_testkit::admin::AdminClient::new(lb.admin_addr());
    let certs = admin.get("/api/v1/certificates").await.json;
    let cert = &certs["certificates"][0];
    assert_eq!(
        (&cert["listener"], &cert["domains"][0]),
        (&serde_json::json!("web"), &serde_json::json!("acme.test")),
        "{certs}"
    );
    assert!(
        cert["not_after"].is_string() && cert["last_error"].is_null(),
        "{certs}"
    );
    assert_eq!(cert["failures"], 0);
    let expiry = admin
        .metric("ballast_acme_certificate_expiry_timestamp_seconds{listener=\"web\"}")
        .await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(expiry > now, "expiry {expiry} is not in the future");
    let keys = files_named(storage.path(), "key.pem");
    assert_eq!(keys.len(), 1, "{keys:?}");
    let mode = std::fs::metadata(&keys[0]).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    // 2. Restart with the CA down: the stored certificate serves, the CA is not asked.
    pebble.stop();
    lb.signal("TERM");
    lb.wait_exit(Duration::from_secs(30));
    drop(lb);
    let lb = BallastProcess::start(bin(), &config(&setup));
    let handshake = connect_verified(web, &root, Duration::from_secs(5)).await;
    assert_eq!(
        handshake.server_cert, issued,
        "the stored certificate is reused"
    );
    lb.wait_for_log("ACME certificate serving", Duration::from_secs(10));
    assert!(lb.events_with("requesting an ACME certificate").is_empty());
    drop(lb);

    // 3. renew_before longer than the certificate's life: a renewal is due at once, fails
    // (the CA is down), is logged with its retry, and the old certificate keeps serving.
    setup.renew_before = "36500d";
    let lb = BallastProcess::start(bin(), &config(&setup));
    let failed = lb.wait_for_log("ACME certificate request failed", Duration::from_secs(30));
    assert_eq!(failed["serving"], "the previous certificate", "{failed}");
    let admin = ballast_testkit::admin::AdminClient::new(lb.admin_addr());
    let certs = admin.get("/api/v1/certificates").await.json;
    assert!(
        certs["certificates"][0]["last_error"].is_string(),
        "{certs}"
    );
    assert!(
        certs["certificates"][0]["failures"].as_u64() >= Some(1),
        "{certs}"
    );
    assert!(failed["retry_in"].is_string(), "{failed}");
    let handshake = connect_verified(web, &root, Duration::from_secs(5)).await;
    assert_eq!(handshake.server_cert, issued, "still the old certificate");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_alpn01_issues_on_the_https_listener_alone() {
    if skip() {
        return;
    }
    let tls_port = free_port();
    // No http listener: Pebble's http port points nowhere, so only tls-alpn-01 can pass.
    let pebble = Pebble::start(free_port(), tls_port).await;
    let root = pebble.issuing_root().await;
    let storage = tempfile::tempdir().unwrap();
    let backend = Backend::spawn("app").await;
    let ca = pebble.server_ca_file();
    let setup = Setup {
        http_port: None,
        tls_port,
        directory: &pebble.directory,
        ca: &ca,
        storage: storage.path(),
        challenge: "tls-alpn-01",
        renew_before: "30d",
        backend: backend.addr,
    };
    let lb = BallastProcess::start(bin(), &config(&setup));
    lb.wait_for_log("ACME certificate issued", Duration::from_secs(60));
    assert!(!lb
        .events_with("answered an ACME tls-alpn-01 challenge")
        .is_empty());
    let handshake = connect_verified(lb.addr("web"), &root, Duration::from_secs(10)).await;
    let response = https_get(handshake, "acme.test", "/alpn").await;
    assert_eq!(response.status(), 200);
}

/// No CA needed: with the directory unreachable, an ACME-only listener has no certificate,
/// so its handshakes fail cleanly, the failure is logged with its retry, and the rest of
/// Ballast serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_first_certificate_handshakes_fail_and_the_rest_serves() {
    let storage = tempfile::tempdir().unwrap();
    let backend = Backend::spawn("app").await;
    let directory = format!("https://{}/dir", closed_port());
    // A CA bundle nobody is served with: the directory is never reached anyway.
    let unused = ballast_testkit::tls::TestCa::new("unused ca");
    let ca = unused.ca_file();
    let (http_port, tls_port) = (free_port(), free_port());
    let setup = Setup {
        http_port: Some(http_port),
        tls_port,
        directory: &directory,
        ca: &ca,
        storage: storage.path(),
        challenge: "http-01",
        renew_before: "30d",
        backend: backend.addr,
    };
    let lb = BallastProcess::start(bin(), &config(&setup));
    let failed = lb.wait_for_log("ACME certificate request failed", Duration::from_secs(30));
    assert_eq!(failed["serving"], "no ACME certificate yet", "{failed}");
    assert_eq!(failed["retry_in"], "10s", "{failed}");
    let sni = ClientOptions {
        sni: Some("acme.test".to_owned()),
        ..ClientOptions::default()
    };
    assert!(tls_connect(lb.addr("web"), &sni).await.is_err());
    let plain = SocketAddr::from(([127, 0, 0, 1], http_port));
    assert_eq!(client::get(plain, "/still-serving").await.status(), 200);
}

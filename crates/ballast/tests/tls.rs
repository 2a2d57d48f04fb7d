//! TLS end to end with real TLS clients: SNI, wildcard and default certificates, policies,
//! ALPN h2, live certificate rotation, backend TLS, mutual TLS.

use std::path::Path;
use std::time::Duration;

use ballast_testkit::tls::{
    h2_get, https_get, tls_connect, ClientOptions, LeafKey, SignatureScheme, TestCa, TlsBackend,
    ECDSA_SCHEMES, RSA_SCHEMES,
};
use ballast_testkit::{Backend, BallastProcess};

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn sni(name: &str) -> ClientOptions {
    ClientOptions {
        sni: Some(name.to_owned()),
        ..ClientOptions::default()
    }
}

fn https_listener(
    certs: &[&ballast_testkit::tls::Issued],
    extra: &str,
    target: std::net::SocketAddr,
) -> String {
    let list: Vec<String> = certs
        .iter()
        .map(|c| {
            format!(
                "{{ cert = \"{}\", key = \"{}\" }}",
                c.cert.display(),
                c.key.display()
            )
        })
        .collect();
    format!(
        "[server]\nworkers = 1\n[listeners.web]\nbind = \"127.0.0.1:0\"\nprotocol = \"https\"\ndefault_action = {{ forward = \"app\" }}\ntls = {{ certificates = [{}] {extra} }}\n[target_groups.app]\ntargets = [\"{target}\"]\n",
        list.join(", ")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_chooses_exact_wildcard_or_default_certificates() {
    let ca = TestCa::new("test ca");
    let default = ca.issue("default", &["default.example.org"]);
    let api = ca.issue("api", &["api.example.com"]);
    let wild = ca.issue("wild", &["*.example.com"]);
    let backend = Backend::spawn("app").await;
    let lb = BallastProcess::start(
        bin(),
        &https_listener(&[&default, &api, &wild], "", backend.addr),
    );
    let addr = lb.addr("web");
    for (name, expected) in [
        (Some("api.example.com"), &api),
        (Some("www.example.com"), &wild),
        (Some("unknown.net"), &default),
        (None, &default),
    ] {
        let options = ClientOptions {
            sni: name.map(str::to_owned),
            ..ClientOptions::default()
        };
        let handshake = tls_connect(addr, &options).await.unwrap();
        assert_eq!(handshake.server_cert, expected.der, "SNI {name:?}");
    }
    // And it proxies, telling the target the request came over https.
    let handshake = tls_connect(addr, &sni("api.example.com")).await.unwrap();
    let response = https_get(handshake, "api.example.com", "/").await;
    assert_eq!(response.status(), 200);
    let seen = &backend.recorded()[0];
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-tls-version"], "TLSv1.3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_h2_works_end_to_end() {
    let ca = TestCa::new("test ca");
    let cert = ca.issue("site", &["site.example.com"]);
    let backend = Backend::spawn("app").await;
    let lb = BallastProcess::start(bin(), &https_listener(&[&cert], "", backend.addr));
    let options = ClientOptions {
        sni: Some("site.example.com".into()),
        alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
        ..ClientOptions::default()
    };
    let handshake = tls_connect(lb.addr("web"), &options).await.unwrap();
    assert_eq!(handshake.alpn.as_deref(), Some(&b"h2"[..]));
    let response = h2_get(handshake, "site.example.com", "/h2").await;
    assert_eq!(response.status(), 200);
    assert_eq!(backend.recorded()[0].path, "/h2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_refuse_old_protocol_versions() {
    let ca = TestCa::new("test ca");
    let cert = ca.issue("site", &["site.example.com"]);
    let backend = Backend::spawn("app").await;
    let recommended = BallastProcess::start(bin(), &https_listener(&[&cert], "", backend.addr));
    // TLS 1.1 is refused under the recommended policy (a real OpenSSL client).
    let output = std::process::Command::new("openssl")
        .args([
            "s_client",
            "-connect",
            &recommended.addr("web").to_string(),
            "-tls1_1",
            "-servername",
            "site.example.com",
        ])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "a TLS 1.1 handshake succeeded");
    // TLS 1.2 is fine there, and refused under the TLS 1.3-only policy.
    let tls12 = ClientOptions {
        tls12_only: true,
        ..sni("site.example.com")
    };
    assert!(tls_connect(recommended.addr("web"), &tls12).await.is_ok());
    let strict = BallastProcess::start(
        bin(),
        &https_listener(&[&cert], ", policy = \"ballast-tls13-2024\"", backend.addr),
    );
    assert!(tls_connect(strict.addr("web"), &tls12).await.is_err());
    assert!(tls_connect(strict.addr("web"), &sni("site.example.com"))
        .await
        .is_ok());
}

/// An RSA and an ECDSA certificate for one name (RSA listed first, so it is also the
/// default): each client gets the one whose key it can verify, by the signature schemes it
/// offers, over TLS 1.3 and 1.2, with or without SNI; a client that verifies both gets ECDSA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rsa_and_ecdsa_certificates_for_one_name_serve_each_client_the_one_it_verifies() {
    let ca = TestCa::new("test ca");
    let rsa = ca.issue_with("site-rsa", &["site.example.com"], LeafKey::Rsa2048);
    let ecdsa = ca.issue_with("site-ecdsa", &["site.example.com"], LeafKey::EcdsaP256);
    let backend = Backend::spawn("app").await;
    let lb = BallastProcess::start(bin(), &https_listener(&[&rsa, &ecdsa], "", backend.addr));
    let addr = lb.addr("web");
    let client =
        |sni: Option<&str>, schemes: Option<&[SignatureScheme]>, tls12_only| ClientOptions {
            sni: sni.map(str::to_owned),
            signature_schemes: schemes.map(<[_]>::to_vec),
            tls12_only,
            ..ClientOptions::default()
        };
    for tls12_only in [false, true] {
        for sni in [Some("site.example.com"), None] {
            let cases = [
                (Some(ECDSA_SCHEMES), &ecdsa, "ECDSA-only"),
                (Some(RSA_SCHEMES), &rsa, "RSA-only"),
                (None, &ecdsa, "verifying both"),
            ];
            for (schemes, expected, who) in cases {
                let options = client(sni, schemes, tls12_only);
                let handshake = tls_connect(addr, &options).await.unwrap_or_else(|e| {
                    panic!("{who} client, SNI {sni:?}, TLS 1.2 only: {tls12_only}: {e}")
                });
                assert_eq!(
                    handshake.server_cert, expected.der,
                    "{who} client, SNI {sni:?}, TLS 1.2 only: {tls12_only}"
                );
            }
        }
    }
    // And the connection serves requests.
    let handshake = tls_connect(
        addr,
        &client(Some("site.example.com"), Some(RSA_SCHEMES), false),
    )
    .await
    .unwrap();
    let response = https_get(handshake, "site.example.com", "/rsa").await;
    assert_eq!(response.status(), 200);
    assert_eq!(backend.recorded()[0].path, "/rsa");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificates_rotate_while_a_connection_stays_open() {
    let ca = TestCa::new("test ca");
    let first = ca.issue("site", &["site.example.com"]);
    let backend = Backend::spawn("app").await;
    let lb = BallastProcess::start(bin(), &https_listener(&[&first], "", backend.addr));
    let addr = lb.addr("web");
    let open = tls_connect(addr, &sni("site.example.com")).await.unwrap();
    assert_eq!(open.server_cert, first.der);
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(open.stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let get = || {
        http::Request::get("/")
            .header("host", "site.example.com")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap()
    };
    assert_eq!(sender.send_request(get()).await.unwrap().status(), 200);

    // New files in place (same paths): the next handshake gets the new certificate.
    let second = ca.issue("site", &["site.example.com"]);
    lb.wait_for_log(
        "certificates reloaded: their files changed",
        Duration::from_secs(10),
    );
    let fresh = tls_connect(addr, &sni("site.example.com")).await.unwrap();
    assert_eq!(fresh.server_cert, second.der);
    // The connection opened before keeps working.
    assert_eq!(sender.send_request(get()).await.unwrap().status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_target_groups_verify_their_targets() {
    let ca = TestCa::new("backend ca");
    let other = TestCa::new("someone else");
    let target_cert = ca.issue("backend", &["backend.internal"]);
    let tls_backend = TlsBackend::spawn(&target_cert).await;
    let config = format!(
        r#"
[server]
workers = 1
[listeners.good]
bind = "127.0.0.1:0"
default_action = {{ forward = "verified" }}
[listeners.bad]
bind = "127.0.0.1:0"
default_action = {{ forward = "wrong_ca" }}
[listeners.lax]
bind = "127.0.0.1:0"
default_action = {{ forward = "unverified" }}
[target_groups.verified]
protocol = "https"
targets = ["{addr}"]
tls = {{ ca = "{ca}", server_name = "backend.internal" }}
[target_groups.wrong_ca]
protocol = "https"
targets = ["{addr}"]
tls = {{ ca = "{other}", server_name = "backend.internal" }}
[target_groups.unverified]
protocol = "https"
targets = ["{addr}"]
tls = {{ verify = false }}
"#,
        addr = tls_backend.addr,
        ca = ca.ca_file().display(),
        other = other.ca_file().display(),
    );
    let lb = BallastProcess::start(bin(), &config);
    let good = ballast_testkit::client::get(lb.addr("good"), "/").await;
    assert_eq!(good.status(), 200);
    assert_eq!(good.body(), &b"tls-ok"[..]);
    let bad = ballast_testkit::client::get(lb.addr("bad"), "/").await;
    assert_eq!(bad.status(), 502);
    let failed = lb.wait_for_log("request failed", Duration::from_secs(5));
    assert_eq!(failed["reason"], "Target.TlsHandshakeFailed");
    let lax = ballast_testkit::client::get(lb.addr("lax"), "/").await;
    assert_eq!(lax.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_verifies_or_passes_client_certificates() {
    let ca = TestCa::new("server ca");
    let clients = TestCa::new("client ca");
    let stranger_ca = TestCa::new("stranger");
    let cert = ca.issue("site", &["site.example.com"]);
    let alice = clients.issue_client("alice", "alice");
    let mallory = stranger_ca.issue_client("mallory", "mallory");
    let backend = Backend::spawn("app").await;
    let verify = BallastProcess::start(
        bin(),
        &https_listener(
            &[&cert],
            &format!(
                ", client_certificates = {{ mode = \"verify\", ca = \"{}\" }}",
                clients.ca_file().display()
            ),
            backend.addr,
        ),
    );
    let with = |client: &ballast_testkit::tls::Issued| ClientOptions {
        client_cert: Some(client.clone()),
        ..sni("site.example.com")
    };
    let accepted = tls_connect(verify.addr("web"), &with(&alice))
        .await
        .unwrap();
    assert_eq!(
        https_get(accepted, "site.example.com", "/").await.status(),
        200
    );
    // Refused: no certificate, or one from another CA (TLS 1.3 reports it on first use).
    for options in [sni("site.example.com"), with(&mallory)] {
        let refused = match tls_connect(verify.addr("web"), &options).await {
            Err(_) => true,
            Ok(handshake) => {
                let mut stream = handshake.stream;
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let _ = stream.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").await;
                let mut buf = [0u8; 64];
                !matches!(stream.read(&mut buf).await, Ok(n) if n > 0)
            }
        };
        assert!(refused, "a client without a valid certificate got through");
    }

    let passthrough = BallastProcess::start(
        bin(),
        &https_listener(
            &[&cert],
            ", client_certificates = { mode = \"passthrough\" }",
            backend.addr,
        ),
    );
    let handshake = tls_connect(passthrough.addr("web"), &with(&mallory))
        .await
        .unwrap();
    assert_eq!(
        https_get(handshake, "site.example.com", "/pass")
            .await
            .status(),
        200
    );
    let seen = backend
        .recorded()
        .into_iter()
        .find(|r| r.path == "/pass")
        .unwrap();
    let header = seen.headers["x-client-cert"].to_str().unwrap().to_owned();
    assert!(
        header.starts_with("-----BEGIN%20CERTIFICATE-----%0A"),
        "{header}"
    );
}

/// `https` health checks speak TLS to the target without verifying its certificate (as ALB's
/// checks do); a plain-HTTP target fails them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_health_checks_pass_over_tls() {
    let ca = TestCa::new("backend ca");
    let cert = ca.issue("backend", &["backend.internal"]);
    let tls_backend = TlsBackend::spawn(&cert).await;
    let plain = Backend::spawn("plain").await;
    let config = format!(
        r#"
[server]
workers = 1
[target_groups.secure]
protocol = "https"
targets = ["{tls}"]
tls = {{ verify = false }}
health_check = {{ protocol = "https", path = "/", interval = "200ms", timeout = "150ms", healthy_threshold = 2, unhealthy_threshold = 2 }}
[target_groups.cleartext]
targets = ["{plain}"]
health_check = {{ protocol = "https", path = "/", interval = "200ms", timeout = "150ms", healthy_threshold = 2, unhealthy_threshold = 2 }}
"#,
        tls = tls_backend.addr,
        plain = plain.addr,
    );
    let lb = BallastProcess::start(bin(), &config);
    lb.wait_for_health(tls_backend.addr, "healthy", Duration::from_secs(10));
    let event = lb.wait_for_health(plain.addr, "unhealthy", Duration::from_secs(10));
    assert_eq!(event["reason"], "Target.FailedHealthChecks");
}

/// A key that does not belong to its certificate stops the start with one line naming the
/// listener's key, the key file and the certificate file, each cause said once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mismatched_key_stops_the_start_naming_the_key_and_the_files() {
    let ca = TestCa::new("test ca");
    let site = ca.issue("site", &["site.example.com"]);
    let other = ca.issue("other", &["other.example.com"]);
    let mismatched = ballast_testkit::tls::Issued {
        key: other.key.clone(),
        ..site.clone()
    };
    let config = ca.dir().join("ballast.toml");
    let target = std::net::SocketAddr::from(([127, 0, 0, 1], 9));
    std::fs::write(&config, https_listener(&[&mismatched], "", target)).unwrap();
    let child = tokio::process::Command::new(bin())
        .args(["run", "-c"])
        .arg(&config)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    // Only a guard against a start that hangs instead of failing.
    let output = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("ballast run did not stop on a bad certificate")
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let line = stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error line in {stderr}"));
    assert!(line.contains("listeners.web.tls: "), "{line}");
    assert!(
        line.contains(&format!(
            "{}: does not match {}",
            other.key.display(),
            site.cert.display()
        )),
        "{line}"
    );
    assert_eq!(line.matches("does not match").count(), 1, "{line}");
}

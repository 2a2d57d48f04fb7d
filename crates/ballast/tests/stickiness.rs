//! Sticky sessions end to end: real echo processes behind the real binary, a client that
//! keeps the cookies it is given.

use std::net::SocketAddr;
use std::path::Path;

use ballast_testkit::client::H1;
use ballast_testkit::{echo_instance, toml_targets, BallastProcess, EchoProcess};
use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::Full;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(targets: &[SocketAddr], group: &str) -> String {
    format!(
        "[server]\nworkers = 2\n[listeners.web]\nbind = \"127.0.0.1:0\"\ndefault_action = {{ forward = \"app\" }}\n[target_groups.app]\ntargets = [{}]\n{group}\n",
        toml_targets(targets)
    )
}

fn instance(response: &Response<Bytes>) -> String {
    echo_instance(response.body())
}

/// The value Ballast set for cookie `name`, if it set one.
fn set_cookie(response: &Response<Bytes>, name: &str) -> Option<String> {
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

async fn send(lb: SocketAddr, path: &str, cookie: Option<&str>) -> Response<Bytes> {
    let mut req = Request::get(path).header("host", lb.to_string());
    if let Some(cookie) = cookie {
        req = req.header(header::COOKIE, cookie);
    }
    let response = H1::connect(lb)
        .await
        .send(req.body(Full::new(Bytes::new())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// `NAME=VALUE` from a `Set-Cookie` line, to send back.
fn pair(set_cookie: &str) -> String {
    set_cookie.split(';').next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lb_cookie_holds_a_client_on_its_target_and_moves_it_when_the_target_dies() {
    let mut echoes: Vec<_> = (0..3)
        .map(|i| EchoProcess::start(bin(), 0, &format!("e{i}")))
        .collect();
    let addrs: Vec<_> = echoes.iter().map(|e| e.addr).collect();
    let lb = BallastProcess::start(
        bin(),
        &config(
            &addrs,
            "stickiness = { type = \"lb_cookie\", duration = \"1h\", same_site = \"lax\" }",
        ),
    );
    let addr = lb.addr("web");
    let first = send(addr, "/", None).await;
    let line = set_cookie(&first, "BALLAST").expect("an lb_cookie on the first answer");
    assert!(
        line.contains("Max-Age=3600") && line.contains("HttpOnly") && line.contains("SameSite=Lax"),
        "{line}"
    );
    let cookie = pair(&line);
    let home = instance(&first);
    for _ in 0..100 {
        let response = send(addr, "/", Some(&cookie)).await;
        assert_eq!(instance(&response), home, "a stuck client moved");
    }
    // Without the cookie, round robin spreads requests as usual.
    let mut others = std::collections::HashSet::new();
    for _ in 0..6 {
        others.insert(instance(&send(addr, "/", None).await));
    }
    assert_eq!(others.len(), 3);

    // A forged or tampered cookie is ignored, never an error: the request is balanced
    // afresh, so round robin moves it around.
    let mut forged = cookie.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    for bad in [forged.as_str(), "BALLAST=garbage"] {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..6 {
            seen.insert(instance(&send(addr, "/", Some(bad)).await));
        }
        assert!(seen.len() > 1, "{bad} stuck a client");
    }

    // Its target dies: the request goes elsewhere, and the client is stuck there instead.
    let index = echoes.iter().position(|e| e.name == home).unwrap();
    echoes[index].kill();
    let moved = send(addr, "/", Some(&cookie)).await;
    let new_home = instance(&moved);
    assert_ne!(new_home, home);
    let cookie = pair(&set_cookie(&moved, "BALLAST").expect("re-stuck"));
    for _ in 0..20 {
        assert_eq!(instance(&send(addr, "/", Some(&cookie)).await), new_home);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_cookie_stickiness_starts_when_the_application_sets_its_cookie() {
    let echoes: Vec<_> = (0..2)
        .map(|i| EchoProcess::start(bin(), 0, &format!("e{i}")))
        .collect();
    let addrs: Vec<_> = echoes.iter().map(|e| e.addr).collect();
    let lb = BallastProcess::start(
        bin(),
        &config(
            &addrs,
            "stickiness = { type = \"app_cookie\", app_cookie = \"SESSION\", duration = \"10m\" }",
        ),
    );
    let addr = lb.addr("web");
    let plain = send(addr, "/", None).await;
    assert!(
        set_cookie(&plain, "BALLASTAPP").is_none(),
        "no session, no stickiness"
    );
    let login = send(addr, "/login?cookie=SESSION", None).await;
    assert!(set_cookie(&login, "SESSION").is_some());
    let sticky =
        pair(&set_cookie(&login, "BALLASTAPP").expect("stickiness starts with the session"));
    let home = instance(&login);
    for _ in 0..30 {
        let response = send(addr, "/", Some(&format!("SESSION=x; {sticky}"))).await;
        assert_eq!(instance(&response), home);
    }
}

//! The admin API end to end, through the real binary: every endpoint, bad input, partial and
//! transactional changes, registration, explain, and the token. `hardening.rs`: the admin
//! listener's own defences (header timeout, connection limit, one error envelope).

mod hardening;

use std::path::Path;

use ballast_testkit::admin::AdminClient;
use ballast_testkit::{client, Backend, BallastProcess};
use serde_json::json;

fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_ballast"))
}

fn config(api: std::net::SocketAddr, web: std::net::SocketAddr) -> String {
    format!(
        r#"[admin]
bind = "127.0.0.1:0"

[listeners.web]
bind = "127.0.0.1:0"
default_action = {{ forward = "web" }}
rules = [{{ priority = 10, conditions = {{ path = ["/api*"] }}, action = {{ forward = "api" }} }}]

[target_groups.api]
targets = ["{api}"]

[target_groups.web]
targets = ["{web}"]
"#
    )
}

async fn body_of(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let response = client::get(addr, path).await;
    (
        response.status().as_u16(),
        String::from_utf8_lossy(response.body()).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_reads_changes_and_refuses_bad_input() {
    let api = Backend::spawn("api").await;
    let web = Backend::spawn("web").await;
    let lb = BallastProcess::start(bin(), &config(api.addr, web.addr));
    let admin = AdminClient::new(lb.admin_addr());
    let addr = lb.addr("web");

    // Liveness, readiness, OpenAPI.
    assert_eq!(admin.get("/healthz").await.status, 200);
    let ready = admin.get("/readyz").await;
    assert_eq!((ready.status, &ready.json["ready"]), (200, &json!(true)));
    let openapi = admin.get("/api/v1/openapi.json").await;
    assert_eq!(openapi.status, 200);
    assert!(openapi.json["paths"]["/api/v1/explain"].is_object());
    assert_eq!(admin.get("/api/v1/nope").await.status, 404);

    // Reading.
    let config = admin.get("/api/v1/config").await;
    assert_eq!(
        config.json["target_groups"]["api"]["targets"][0],
        api.addr.to_string()
    );
    let listeners = admin.get("/api/v1/listeners").await;
    assert_eq!(listeners.json["listeners"][0]["name"], "web");
    assert_eq!(listeners.json["listeners"][0]["address"], addr.to_string());
    assert_eq!(listeners.json["listeners"][0]["rules"][0]["priority"], 10);
    assert_eq!(
        admin.get("/api/v1/listeners/web/rules").await.json["rules"][0]["conditions"]["path"][0],
        "/api*"
    );
    assert_eq!(admin.get("/api/v1/listeners/nope").await.status, 404);
    let groups = admin.get("/api/v1/target-groups").await;
    assert_eq!(groups.json["target_groups"].as_array().unwrap().len(), 2);
    let group = admin.get("/api/v1/target-groups/api").await;
    assert_eq!(group.json["targets"][0]["state"], "healthy");
    assert_eq!(group.json["targets"][0]["address"], api.addr.to_string());
    let unknown = admin.get("/api/v1/target-groups/nope").await;
    assert_eq!(
        (unknown.status, &unknown.json["error"]["code"]),
        (404, &json!("Admin.UnknownTargetGroup"))
    );
    assert_eq!(
        admin.get("/api/v1/target-groups/nope/targets").await.status,
        404
    );

    // Malformed JSON and an invalid config: 400, every error with its key path, nothing changes.
    let malformed = admin
        .call(
            http::Method::PUT,
            "/api/v1/config",
            "application/json",
            b"{not json".to_vec(),
        )
        .await;
    assert_eq!(
        (malformed.status, &malformed.json["error"]["code"]),
        (400, &json!("Admin.MalformedJson"))
    );
    let mut bad = config.json.clone();
    bad["listeners"]["web"]["rules"][0]["action"]["forward"] = json!("apii");
    bad["target_groups"]["api"]["algorithm"] = json!("fastest");
    let refused = admin.put("/api/v1/config", &bad).await;
    assert_eq!(refused.status, 400, "{}", refused.text);
    let paths: Vec<&str> = refused.json["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"listeners.web.rules[0].action.forward"),
        "{paths:?}"
    );
    assert!(paths.contains(&"target_groups.api.algorithm"), "{paths:?}");
    assert_eq!(
        admin.get("/api/v1/config").await.json,
        config.json,
        "the running config changed"
    );
    assert_eq!(body_of(addr, "/api/x").await.0, 200);
    let reloads = admin.get("/api/v1/reloads").await.json;
    assert_eq!(reloads["failed"], 1);
    assert!(reloads["last_error"][0].as_str().unwrap().contains("apii"));

    // TOML body with dry_run: the changes are shown, not applied.
    let toml = config_toml_with_path(api.addr, web.addr, "/v2*");
    let dry = admin
        .call(
            http::Method::PUT,
            "/api/v1/config?dry_run=true",
            "application/toml",
            toml.into_bytes(),
        )
        .await;
    assert_eq!(dry.status, 200, "{}", dry.text);
    assert_eq!(dry.json["applied"], false);
    assert_eq!(
        dry.json["changes"][0]["path"],
        "listeners.web.rules[0].conditions.path[0]"
    );
    assert!(
        body_of(addr, "/v2/x").await.1.contains("\"name\":\"web\""),
        "dry run applied"
    );

    // One rule changed on its own.
    let put = admin
        .put(
            "/api/v1/listeners/web/rules/10",
            &json!({"conditions": {"path": ["/v2*"]}, "action": {"forward": "api"}}),
        )
        .await;
    assert_eq!(
        (put.status, &put.json["applied"]),
        (200, &json!(true)),
        "{}",
        put.text
    );
    assert!(body_of(addr, "/v2/x").await.1.contains("\"name\":\"api\""));
    assert_eq!(
        admin.delete("/api/v1/listeners/web/rules/99").await.status,
        404
    );

    // A transaction: one bad operation refuses all of them.
    let failing = admin.patch("/api/v1/config", &json!([
        {"op": "replace", "path": "/listeners/web/rules/0/conditions/path/0", "value": "/v3*"},
        {"op": "remove", "path": "/target_groups/missing"}
    ])).await;
    assert_eq!(failing.status, 400, "{}", failing.text);
    assert!(body_of(addr, "/v2/x").await.1.contains("\"name\":\"api\""));
    // A valid one changes a group and a rule at once.
    let other = Backend::spawn("other").await;
    let applied = admin.patch("/api/v1/config", &json!([
        {"op": "add", "path": "/target_groups/other", "value": {"targets": [other.addr.to_string()]}},
        {"op": "replace", "path": "/listeners/web/rules/0/action/forward", "value": "other"}
    ])).await;
    assert_eq!(applied.status, 200, "{}", applied.text);
    assert!(body_of(addr, "/v2/x")
        .await
        .1
        .contains("\"name\":\"other\""));
    // A group in use cannot be deleted; the error names the rule.
    let in_use = admin.delete("/api/v1/target-groups/other").await;
    assert_eq!(in_use.status, 400, "{}", in_use.text);

    // Registration and deregistration (draining).
    let extra = Backend::spawn("extra").await;
    let registered = admin
        .post(
            "/api/v1/target-groups/web/targets",
            &json!({"address": extra.addr.to_string()}),
        )
        .await;
    assert_eq!(registered.status, 201, "{}", registered.text);
    let targets = admin.get("/api/v1/target-groups/web/targets").await.json;
    assert_eq!(targets["targets"].as_array().unwrap().len(), 2);
    let gone = admin
        .delete(&format!("/api/v1/target-groups/web/targets/{}", extra.addr))
        .await;
    assert_eq!(
        (gone.status, &gone.json["state"]),
        (202, &json!("draining"))
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/target-groups/nope/targets",
                &json!({"address": "127.0.0.1:1"})
            )
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/target-groups/web/targets",
                &json!({"address": "localhost"})
            )
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .post(
                "/api/v1/target-groups/web/targets",
                &json!({"addr": "127.0.0.1:1"})
            )
            .await
            .status,
        400
    );
    assert_eq!(
        admin
            .delete("/api/v1/target-groups/web/targets/127.0.0.1:1")
            .await
            .status,
        404
    );

    // A deregistered file target stays gone after an unrelated change from the document.
    let web_target = format!("/api/v1/target-groups/web/targets/{}", web.addr);
    assert_eq!(admin.delete(&web_target).await.status, 202);
    let unrelated = admin.put("/api/v1/listeners/web/rules/20", &json!({"conditions": {"path": ["/x*"]}, "action": {"fixed_response": {"status": 204}}})).await;
    assert_eq!(unrelated.status, 200, "{}", unrelated.text);
    let states: Vec<String> = admin.get("/api/v1/target-groups/web/targets").await.json["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["address"] == web.addr.to_string())
        .map(|t| t["state"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        states.iter().all(|s| s != "healthy"),
        "deregistered target came back: {states:?}"
    );
    assert_eq!(
        admin.delete("/api/v1/listeners/web/rules/20").await.status,
        200
    );

    // What a web page could send on its own is refused: a form's media type, a foreign Host.
    let form = admin
        .call(
            http::Method::POST,
            "/api/v1/target-groups/web/targets",
            "text/plain",
            br#"{"address":"127.0.0.1:1"}"#.to_vec(),
        )
        .await;
    assert_eq!(
        (form.status, &form.json["error"]["code"]),
        (415, &json!("Admin.UnsupportedMediaType"))
    );
    let rebound = {
        let request = http::Request::get("/api/v1/config")
            .header("host", "evil.example:9901")
            .body(http_body_util::Full::new(bytes::Bytes::new()))
            .unwrap();
        ballast_testkit::client::H1::connect(admin.addr)
            .await
            .send(request)
            .await
            .unwrap()
    };
    assert_eq!(rebound.status(), 403);

    // Explain.
    let x = admin
        .post(
            "/api/v1/explain",
            &json!({"path": "/v2/users", "host": "example.test"}),
        )
        .await;
    assert_eq!(x.status, 200, "{}", x.text);
    assert_eq!(
        (&x.json["rule"], &x.json["target_group"]),
        (&json!(10), &json!("other"))
    );
    assert_eq!(x.json["target"], other.addr.to_string());
    let x = admin
        .post("/api/v1/explain", &json!({"listener": "web", "path": "/"}))
        .await;
    assert_eq!(
        (&x.json["rule"], &x.json["target_group"]),
        (&json!("default"), &json!("web"))
    );
    assert!(!x.json["why"].as_array().unwrap().is_empty());
    assert_eq!(
        admin
            .post("/api/v1/explain", &json!({"listener": "nope"}))
            .await
            .status,
        404
    );
    assert_eq!(
        admin
            .post("/api/v1/explain", &json!({"paths": "/"}))
            .await
            .status,
        400
    );

    let reloads = admin.get("/api/v1/reloads").await.json;
    assert_eq!(reloads["succeeded"], 4, "{reloads}");
    assert_eq!(
        reloads["last_error"],
        json!(null),
        "the last attempt succeeded"
    );
    assert_eq!(
        admin
            .metric("ballast_config_reloads_total{result=\"success\"}")
            .await,
        4.0
    );
    assert_eq!(
        admin
            .metric("ballast_config_reloads_total{result=\"failure\"}")
            .await,
        2.0
    );
}

fn config_toml_with_path(
    api: std::net::SocketAddr,
    web: std::net::SocketAddr,
    path: &str,
) -> String {
    config(api, web).replace("\"/api*\"", &format!("\"{path}\""))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_guards_everything_but_health() {
    let web = Backend::spawn("web").await;
    let token = "0123456789abcdef0123456789abcdef";
    let cfg = config(web.addr, web.addr).replace(
        "bind = \"127.0.0.1:0\"\n\n[listeners.web]",
        &format!("bind = \"127.0.0.1:0\"\ntoken = \"{token}\"\n\n[listeners.web]"),
    );
    let lb = BallastProcess::start(bin(), &cfg);
    let anonymous = AdminClient::new(lb.admin_addr());
    let wrong = AdminClient::with_token(lb.admin_addr(), "0123456789abcdef0123456789abcdeX");
    let right = AdminClient::with_token(lb.admin_addr(), token);
    assert_eq!(anonymous.get("/healthz").await.status, 200);
    assert_eq!(anonymous.get("/readyz").await.status, 200);
    for path in ["/api/v1/config", "/metrics", "/api/v1/target-groups"] {
        assert_eq!(anonymous.get(path).await.status, 401, "{path}");
        assert_eq!(wrong.get(path).await.status, 401, "{path}");
        assert_eq!(right.get(path).await.status, 200, "{path}");
    }
    // The token is never shown, and sending the document back keeps it.
    let document = right.get("/api/v1/config").await.json;
    assert_eq!(document["admin"]["token"], "<redacted>");
    assert!(!right.get("/api/v1/config").await.text.contains(token));
    assert_eq!(right.put("/api/v1/config", &document).await.status, 200);
    assert_eq!(
        right.get("/api/v1/config").await.status,
        200,
        "the token still works"
    );
}

#[test]
fn the_admin_api_off_loopback_without_a_token_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ballast.toml");
    std::fs::write(&path, "[admin]\nbind = \"0.0.0.0:0\"\n").unwrap();
    let out = std::process::Command::new(bin())
        .args(["run", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("admin.token:"), "{stderr}");
}

//! The client against a real etcd (the `etcd` binary as a child process).

use std::time::{Duration, Instant};

use ballast_testkit::tls::TestCa;
use ballast_testkit::{closed_port, EtcdProcess};

use super::{Etcd, EtcdError, EtcdOptions, Event, PutIf};

fn options(endpoints: &[&str]) -> EtcdOptions {
    EtcdOptions {
        endpoints: endpoints.iter().map(|e| e.to_string()).collect(),
        timeout: Duration::from_secs(5),
        ..EtcdOptions::default()
    }
}

fn client(url: &str) -> Etcd {
    Etcd::new(options(&[url])).unwrap()
}

/// Events from `watch` until `count` have arrived (each `next` bounded).
async fn events(watch: &mut super::Watch, count: usize) -> Vec<Event> {
    let mut seen = Vec::new();
    while seen.len() < count {
        let batch = tokio::time::timeout(Duration::from_secs(10), watch.next())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .expect("the watch goes on");
        seen.extend(batch);
    }
    seen
}

fn put_of(event: &Event) -> (&[u8], &[u8]) {
    match event {
        Event::Put(kv) => (&kv.key, &kv.value),
        Event::Delete { .. } => panic!("a put, not {event:?}"),
    }
}

#[tokio::test]
async fn put_get_prefix_and_delete() {
    let etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    assert_eq!(client.get(b"missing").await.unwrap().0, None);
    let r1 = client.put(b"app/a", b"1", None).await.unwrap();
    let r2 = client
        .put(b"app/b\xff\x00", b"\x00\xffbinary", None)
        .await
        .unwrap();
    client.put(b"apq", b"outside", None).await.unwrap();
    assert!(r2 > r1);
    let (kv, revision) = client.get(b"app/a").await.unwrap();
    let kv = kv.unwrap();
    assert_eq!(
        (kv.value.as_slice(), kv.mod_revision, kv.lease),
        (&b"1"[..], r1, 0)
    );
    assert_eq!(kv.create_revision, r1);
    assert!(revision >= r2);
    let (kvs, _) = client.get_prefix(b"app/").await.unwrap();
    let keys: Vec<&[u8]> = kvs.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [&b"app/a"[..], &b"app/b\xff\x00"[..]]);
    assert_eq!(kvs[1].value, b"\x00\xffbinary");
    assert_eq!(client.get_prefix(b"").await.unwrap().0.len(), 3);
    client.delete(b"app/a").await.unwrap();
    client.delete(b"app/a").await.unwrap();
    assert_eq!(client.get(b"app/a").await.unwrap().0, None);
    assert_eq!(client.endpoint(), etcd.url);
}

#[tokio::test]
async fn put_if_writes_only_on_the_expected_revision() {
    let etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    let PutIf::Written(created) = client.put_if(b"doc", b"v1", 0).await.unwrap() else {
        panic!("create-only on a missing key writes");
    };
    match client.put_if(b"doc", b"v1 again", 0).await.unwrap() {
        PutIf::Conflict(Some(kv)) => {
            assert_eq!((kv.value, kv.mod_revision), (b"v1".to_vec(), created))
        }
        other => panic!("{other:?}"),
    }
    let PutIf::Written(second) = client.put_if(b"doc", b"v2", created).await.unwrap() else {
        panic!("the expected revision writes");
    };
    assert!(second > created);
    match client.put_if(b"doc", b"stale", created).await.unwrap() {
        PutIf::Conflict(Some(kv)) => {
            assert_eq!((kv.value, kv.mod_revision), (b"v2".to_vec(), second))
        }
        other => panic!("{other:?}"),
    }
    client.delete(b"doc").await.unwrap();
    assert_eq!(
        client.put_if(b"doc", b"x", second).await.unwrap(),
        PutIf::Conflict(None)
    );
    assert!(matches!(
        client.put_if(b"doc", b"v3", 0).await.unwrap(),
        PutIf::Written(_)
    ));
}

#[tokio::test]
async fn a_watch_sees_puts_and_deletes_in_order_from_its_start_revision() {
    let etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    client.put(b"before", b"-", None).await.unwrap();
    let start = client.put(b"w/a", b"1", None).await.unwrap();
    client.put(b"w/b", b"2", None).await.unwrap();
    client.put(b"x/other", b"-", None).await.unwrap();
    client.delete(b"w/a").await.unwrap();
    let mut watch = client.watch(b"w/", true, start).await.unwrap();
    // And one written after the watch is in place.
    let last = client.put(b"w/c", b"3", None).await.unwrap();
    let seen = events(&mut watch, 4).await;
    assert_eq!(put_of(&seen[0]), (&b"w/a"[..], &b"1"[..]));
    assert_eq!(put_of(&seen[1]), (&b"w/b"[..], &b"2"[..]));
    assert!(
        matches!(&seen[2], Event::Delete { key, mod_revision } if key == b"w/a" && *mod_revision == start + 3)
    );
    assert!(matches!(&seen[3], Event::Put(kv) if kv.key == b"w/c" && kv.mod_revision == last));

    // One key only, and from now (0).
    let mut single = client.watch(b"w/b", false, 0).await.unwrap();
    client.put(b"w/bb", b"not this", None).await.unwrap();
    client.put(b"w/b", b"22", None).await.unwrap();
    let seen = events(&mut single, 1).await;
    assert_eq!(put_of(&seen[0]), (&b"w/b"[..], &b"22"[..]));
}

#[tokio::test]
async fn a_watch_from_a_compacted_revision_says_compacted() {
    let etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    let first = client.put(b"k", b"1", None).await.unwrap();
    client.put(b"k", b"2", None).await.unwrap();
    let compact = client.put(b"k", b"3", None).await.unwrap();
    etcd.etcdctl(&["compact", &compact.to_string(), "--physical"]);
    let revision = match client.watch(b"k", false, first).await {
        Err(EtcdError::Compacted(revision)) => revision,
        Ok(mut watch) => match watch.next().await {
            Err(EtcdError::Compacted(revision)) => revision,
            other => panic!("{other:?}"),
        },
        Err(e) => panic!("{e}"),
    };
    assert_eq!(revision, compact);
    // From the compact revision on, it works.
    let mut watch = client.watch(b"k", false, compact).await.unwrap();
    assert_eq!(
        put_of(&events(&mut watch, 1).await[0]),
        (&b"k"[..], &b"3"[..])
    );
}

#[tokio::test]
async fn a_revoked_lease_takes_its_keys_away() {
    let etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    let lease = client.grant(Duration::from_secs(30)).await.unwrap();
    let revision = client.put(b"nodes/n1", b"up", Some(lease)).await.unwrap();
    assert_eq!(
        client.get(b"nodes/n1").await.unwrap().0.unwrap().lease,
        lease
    );
    let ttl = client
        .keep_alive(lease)
        .await
        .unwrap()
        .expect("a live lease");
    assert!(
        ttl > Duration::from_secs(20) && ttl <= Duration::from_secs(30),
        "{ttl:?}"
    );
    let mut watch = client.watch(b"nodes/", true, revision + 1).await.unwrap();
    client.revoke(lease).await.unwrap();
    let seen = events(&mut watch, 1).await;
    assert!(
        matches!(&seen[0], Event::Delete { key, .. } if key == b"nodes/n1"),
        "{seen:?}"
    );
    assert_eq!(client.get(b"nodes/n1").await.unwrap().0, None);
    assert_eq!(client.keep_alive(lease).await.unwrap(), None);
    client.revoke(lease).await.unwrap();
}

#[tokio::test]
async fn an_unreachable_endpoint_fails_fast_and_the_next_one_is_tried() {
    let closed = format!("http://{}", closed_port());
    let started = Instant::now();
    let lone = client(&closed);
    match lone.get(b"k").await {
        Err(EtcdError::Unreachable(why)) => assert!(why.contains(&closed), "{why}"),
        other => panic!("{other:?}"),
    }
    assert!(lone.watch(b"k", false, 0).await.is_err());
    assert!(started.elapsed() < Duration::from_secs(2));

    let etcd = EtcdProcess::start();
    let both = Etcd::new(options(&[&closed, &etcd.url])).unwrap();
    assert_eq!(both.endpoint(), closed);
    both.put(b"k", b"v", None).await.unwrap();
    assert_eq!(both.endpoint(), etcd.url);
    assert_eq!(both.get(b"k").await.unwrap().0.unwrap().value, b"v");
    let mut watch = both.watch(b"k", false, 0).await.unwrap();
    both.put(b"k", b"w", None).await.unwrap();
    assert_eq!(put_of(&events(&mut watch, 1).await[0]).1, b"w");
}

#[tokio::test]
async fn a_watch_ends_when_etcd_goes_and_the_client_recovers_after_a_restart() {
    let mut etcd = EtcdProcess::start();
    let client = client(&etcd.url);
    client.put(b"k", b"1", None).await.unwrap();
    let mut watch = client.watch(b"k", false, 0).await.unwrap();
    etcd.kill();
    let end = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("a watch does not outlive its connection");
    assert!(
        matches!(end, Ok(None) | Err(EtcdError::Broken(_))),
        "{end:?}"
    );
    assert!(matches!(
        client.get(b"k").await,
        Err(EtcdError::Unreachable(_))
    ));
    etcd.restart();
    assert_eq!(client.get(b"k").await.unwrap().0.unwrap().value, b"1");
}

#[tokio::test]
async fn with_authentication_on_only_a_known_user_gets_in() {
    let mut etcd = EtcdProcess::start();
    let open = client(&etcd.url);
    // Authenticating against an etcd without authentication goes on without a token.
    let user = Etcd::new(EtcdOptions {
        username: Some("root".into()),
        password: Some("pw".into()),
        ..options(&[&etcd.url])
    })
    .unwrap();
    user.put(b"k", b"before", None).await.unwrap();
    etcd.etcdctl(&["user", "add", "root:pw"]);
    etcd.etcdctl(&["auth", "enable"]);

    assert_eq!(user.get(b"k").await.unwrap().0.unwrap().value, b"before");
    user.put(b"k", b"v", None).await.unwrap();
    let mut watch = user.watch(b"k", false, 0).await.unwrap();
    user.put(b"k", b"w", None).await.unwrap();
    assert_eq!(put_of(&events(&mut watch, 1).await[0]).1, b"w");
    assert!(matches!(
        open.get(b"k").await,
        Err(EtcdError::Status { .. })
    ));
    assert!(open.watch(b"k", false, 0).await.is_err());
    let wrong = Etcd::new(EtcdOptions {
        username: Some("root".into()),
        password: Some("nope".into()),
        ..options(&[&etcd.url])
    })
    .unwrap();
    assert!(matches!(
        wrong.get(b"k").await,
        Err(EtcdError::Status { .. })
    ));

    // etcd forgets its simple tokens when it restarts: the client authenticates again.
    etcd.restart();
    assert_eq!(user.get(b"k").await.unwrap().0.unwrap().value, b"w");
    let mut watch = user.watch(b"k", false, 0).await.unwrap();
    etcd.restart();
    let end = tokio::time::timeout(Duration::from_secs(10), watch.next())
        .await
        .expect("a watch does not outlive its connection");
    assert!(
        matches!(end, Ok(None) | Err(EtcdError::Broken(_))),
        "{end:?}"
    );
    // The token died with the old etcd again: the watch authenticates anew.
    let mut watch = user.watch(b"k", false, 0).await.unwrap();
    user.put(b"k", b"x", None).await.unwrap();
    assert_eq!(put_of(&events(&mut watch, 1).await[0]).1, b"x");
}

#[tokio::test]
async fn over_mutual_tls() {
    let ca = TestCa::new("etcd test ca");
    let etcd = EtcdProcess::start_tls(&ca);
    let (ca_file, cert, key) = etcd.tls_files().unwrap();
    let tls = Etcd::new(EtcdOptions {
        ca: Some(ca_file.clone()),
        cert: Some(cert.clone()),
        key: Some(key.clone()),
        ..options(&[&etcd.url])
    })
    .unwrap();
    tls.put(b"k", b"v", None).await.unwrap();
    assert_eq!(tls.get(b"k").await.unwrap().0.unwrap().value, b"v");
    let mut watch = tls.watch(b"k", false, 0).await.unwrap();
    tls.put(b"k", b"w", None).await.unwrap();
    assert_eq!(put_of(&events(&mut watch, 1).await[0]).1, b"w");

    let no_cert = Etcd::new(EtcdOptions {
        ca: Some(ca_file.clone()),
        ..options(&[&etcd.url])
    })
    .unwrap();
    assert!(no_cert.get(b"k").await.is_err());
    let other_ca = TestCa::new("another ca");
    let untrusting = Etcd::new(EtcdOptions {
        ca: Some(other_ca.ca_file()),
        cert: Some(cert.clone()),
        key: Some(key.clone()),
        ..options(&[&etcd.url])
    })
    .unwrap();
    assert!(matches!(
        untrusting.get(b"k").await,
        Err(EtcdError::Unreachable(_))
    ));
}

#[test]
fn bad_options_are_config_errors() {
    let config_error = |options: EtcdOptions| match Etcd::new(options) {
        Err(EtcdError::Config(_)) => {}
        other => panic!("{other:?}"),
    };
    config_error(options(&[]));
    config_error(options(&["ftp://127.0.0.1:2379"]));
    config_error(options(&["127.0.0.1:2379"]));
    config_error(options(&["http://127.0.0.1:2379/v3"]));
    config_error(options(&["https://127.0.0.1:2379"]));
    config_error(EtcdOptions {
        ca: Some("/nonexistent/ca.pem".into()),
        ..options(&["https://127.0.0.1:2379"])
    });
    let ca = TestCa::new("ca");
    config_error(EtcdOptions {
        ca: Some(ca.ca_file()),
        cert: Some(ca.ca_file()),
        ..options(&["https://127.0.0.1:2379"])
    });
    config_error(EtcdOptions {
        username: Some("root".into()),
        ..options(&["http://127.0.0.1:2379"])
    });
    let fine = Etcd::new(options(&["http://[::1]:2379", "https://localhost"]));
    assert!(
        matches!(fine, Err(EtcdError::Config(_))),
        "https needs a CA"
    );
    let fine = Etcd::new(EtcdOptions {
        ca: Some(ca.ca_file()),
        ..options(&["http://[::1]:2379", "https://localhost"])
    })
    .unwrap();
    assert_eq!(fine.endpoint(), "http://[::1]:2379");
}

#[test]
fn the_client_its_calls_and_watches_move_between_threads() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    fn send<T: Send>(_: T) {}
    fn watch_is_send<T: Send>() {}
    let etcd = client("http://127.0.0.1:1");
    send_sync(&etcd);
    send(etcd.get(b"k"));
    send(etcd.put_if(b"k", b"v", 0));
    send(etcd.keep_alive(1));
    send(etcd.watch(b"k", true, 0));
    watch_is_send::<super::Watch>();
}

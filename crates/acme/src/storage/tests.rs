use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use ballast_config::{AcmeChallenge, AcmeConfig, ListenerName};

use super::*;

fn config(storage: &Path, domains: &[&str]) -> AcmeConfig {
    AcmeConfig {
        directory: "https://127.0.0.1:14000/dir".to_owned(),
        domains: domains.iter().map(|d| d.to_string()).collect(),
        contact: Vec::new(),
        storage: storage.to_owned(),
        challenge: AcmeChallenge::Http01,
        renew_before: Duration::from_secs(86_400),
        ca: None,
    }
}

#[test]
fn one_directory_per_listener_and_domain_set() {
    let root = Path::new("/var/lib/ballast/acme");
    let web = ListenerName::from("web");
    let a = Storage::new(&web, &config(root, &["acme.test", "www.acme.test"]));
    let same_set = Storage::new(&web, &config(root, &["acme.test", "www.acme.test"]));
    let reordered = Storage::new(&web, &config(root, &["www.acme.test", "acme.test"]));
    let other_set = Storage::new(&web, &config(root, &["acme.test"]));
    let other_listener = Storage::new(&ListenerName::from("api"), &config(root, &["acme.test"]));
    assert_eq!(a, same_set);
    let text = |p: &Path| p.to_str().unwrap().to_owned();
    assert!(
        text(&a.dir).starts_with("/var/lib/ballast/acme/web/acme.test-"),
        "{:?}",
        a.dir
    );
    assert!(text(&reordered.dir).starts_with("/var/lib/ballast/acme/web/www.acme.test-"));
    // The hash is over the sorted set: reordering the list names the same set.
    assert_eq!(
        a.dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .rsplit('-')
            .next(),
        reordered
            .dir
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .rsplit('-')
            .next()
    );
    assert_ne!(a.dir, other_set.dir);
    assert_ne!(other_set.dir, other_listener.dir);
    // One account per directory URL, shared by listeners.
    assert_eq!(a.account, other_listener.account);
    assert!(text(&a.account).starts_with("/var/lib/ballast/acme/accounts/127.0.0.1-"));
    assert_eq!(a.cert_file(), a.dir.join("cert.pem"));
    assert_eq!(a.key_file(), a.dir.join("key.pem"));
}

#[test]
fn saved_certificates_load_back_with_their_expiry_and_a_private_key_file() {
    let root = tempfile::tempdir().unwrap();
    let storage = Storage::new(
        &ListenerName::from("web"),
        &config(root.path(), &["acme.test"]),
    );
    assert!(storage.load().unwrap().is_none());
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["acme.test".to_owned()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2030, 1, 2);
    let cert = params.self_signed(&key).unwrap();
    storage.save(&cert.pem(), &key.serialize_pem()).unwrap();
    let stored = storage.load().unwrap().unwrap();
    assert_eq!(stored.info.names, ["acme.test"]);
    assert_eq!(
        stored.not_after,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_893_542_400)
    );
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&storage.key_file()), 0o600);
    assert_eq!(mode(&storage.dir), 0o700);
    // A key that does not match (a crash between the two renames) is an error, not a panic.
    let other = rcgen::KeyPair::generate().unwrap();
    std::fs::write(storage.key_file(), other.serialize_pem()).unwrap();
    assert!(storage.load().is_err());
    // Accounts: none, then saved privately.
    assert!(storage.load_account().unwrap().is_none());
    storage.save_account("{}").unwrap();
    assert_eq!(storage.load_account().unwrap().as_deref(), Some("{}"));
    assert_eq!(mode(&storage.account), 0o600);
    storage.forget_account();
    assert!(storage.load_account().unwrap().is_none());
}

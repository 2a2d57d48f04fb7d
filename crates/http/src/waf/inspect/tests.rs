use super::*;

fn t(v: &str, transforms: &[Transform]) -> String {
    String::from_utf8_lossy(&transformed(v.as_bytes(), transforms)).into_owned()
}

#[test]
fn transformations_decode_in_order() {
    assert_eq!(t("a%20b+c%2", &[Transform::UrlDecode]), "a b c%2");
    assert_eq!(
        t("%253C", &[Transform::UrlDecode, Transform::UrlDecode]),
        "<"
    );
    assert_eq!(
        t(
            "&lt;script&#62;&#x41;&amp;&bogus;",
            &[Transform::HtmlEntityDecode]
        ),
        "<script>A&&bogus;"
    );
    assert_eq!(t("SeLeCt", &[Transform::Lowercase]), "select");
    assert_eq!(t("a \t\n b", &[Transform::CompressWhitespace]), "a b");
    assert!(matches!(
        transformed(b"plain", &[Transform::UrlDecode, Transform::Lowercase]),
        Cow::Borrowed(_)
    ));
}

#[test]
fn pairs_split_queries_and_forms() {
    let got: Vec<(&[u8], &[u8])> = pairs(b"a=1&&b&c=x=y").collect();
    assert_eq!(got, [(&b"a"[..], &b"1"[..]), (b"b", b""), (b"c", b"x=y")]);
}

proptest::proptest! {
    /// Whatever the bytes, every transformation and the argument splitter answer without
    /// panicking, and decoding never grows a value.
    #[test]
    fn any_bytes_transform_without_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
        for t in [
            Transform::UrlDecode,
            Transform::HtmlEntityDecode,
            Transform::Lowercase,
            Transform::CompressWhitespace,
        ] {
            let out = transformed(&bytes, &[t, t]);
            proptest::prop_assert!(out.len() <= bytes.len());
        }
        for (name, value) in pairs(&bytes) {
            proptest::prop_assert!(name.len() + value.len() <= bytes.len());
        }
    }

    /// The detectors answer on any bytes (a panic inside the port counts as an attack
    /// instead of unwinding out).
    #[test]
    fn detectors_answer_on_any_bytes(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..200)) {
        let _ = super::super::detect::sqli(&bytes);
        let _ = super::super::detect::xss(&bytes);
    }
}

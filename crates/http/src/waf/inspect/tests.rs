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

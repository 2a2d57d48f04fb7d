//! Detection and false-positive rates of the managed WAF set `ballast-core` on public
//! corpora (`bench/waf-corpus.sh` downloads them from PyPI, Debian and crates.io and builds
//! the JSONL files this reads). Ignored in the suite (it needs the download); run with
//! `WAF_CORPORA=dir cargo test --release -p ballast-http --test waf_corpus -- --ignored --nocapture`.

use ballast_http::fuzzing::waf_core_blocks;

fn corpus(dir: &str, name: &str) -> Vec<String> {
    std::fs::read_to_string(format!("{dir}/{name}.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<String>(l).ok())
        .collect()
}

#[test]
#[ignore = "needs the corpora bench/waf-corpus.sh downloads"]
fn rates_on_public_corpora() {
    let Ok(dir) = std::env::var("WAF_CORPORA") else {
        panic!("set WAF_CORPORA to the corpora directory");
    };
    println!("| corpus | kind | values | blocked as a query argument | blocked as a form field |");
    println!("| --- | --- | ---: | ---: | ---: |");
    for name in [
        "atk_sqli_protego",
        "atk_sqli_sqlmap",
        "atk_sqli_fray",
        "atk_sqli_wfuzz",
        "atk_xss_fray",
        "atk_xss_wfuzz",
        "ben_form_faker_fields",
        "ben_form_protego",
        "ben_json_npm_leaves",
        "ben_json_npm_docs",
        "ben_url_wpt",
        "ben_useragents_sqlmap",
    ] {
        let values = corpus(&dir, name);
        if values.is_empty() {
            continue;
        }
        let rate = |form: bool| {
            let n = values
                .iter()
                .filter(|v| waf_core_blocks(v.as_bytes(), form))
                .count();
            100.0 * n as f64 / values.len() as f64
        };
        let kind = if name.starts_with("atk") {
            "attack"
        } else {
            "benign"
        };
        println!(
            "| {name} | {kind} | {} | {:.1}% | {:.1}% |",
            values.len(),
            rate(false),
            rate(true)
        );
    }
}

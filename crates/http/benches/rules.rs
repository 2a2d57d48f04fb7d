//! Finding the rule of a request among 10, 100 and 1,000 rules: the compiled, indexed
//! table, for a request that matches late, and one that matches no rule.

use std::hint::black_box;

use ballast_config::{Conditions, HeaderCondition};
use ballast_http::{RequestView, RuleTable};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use http::{HeaderMap, HeaderValue};

/// A mix: a third literal-host rules, a third path rules with a method, a third wildcard
/// hosts with a header glob (filed by their domain).
fn rules(n: usize) -> Vec<(u32, Conditions, usize)> {
    (0..n)
        .map(|i| {
            let conditions = match i % 3 {
                0 => Conditions {
                    host: vec![format!("svc{i}.example.com")],
                    ..Conditions::default()
                },
                1 => Conditions {
                    path: vec![format!("/api/v{i}/*")],
                    method: vec!["GET".into(), "POST".into()],
                    ..Conditions::default()
                },
                _ => Conditions {
                    host: vec![format!("*.tenant{i}.example.com")],
                    header: vec![HeaderCondition {
                        name: "x-tenant".into(),
                        values: vec![format!("t{i}*")],
                    }],
                    ..Conditions::default()
                },
            };
            (i as u32 + 1, conditions, i)
        })
        .collect()
}

fn matching(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules");
    let mut headers = HeaderMap::new();
    headers.insert("user-agent", HeaderValue::from_static("bench"));
    headers.insert("accept", HeaderValue::from_static("*/*"));
    for n in [10usize, 100, 1000] {
        let table = RuleTable::build(rules(n));
        let last_path = (0..n).rev().find(|i| i % 3 == 1).unwrap_or(1);
        let path = format!("/api/v{last_path}/users");
        let late = RequestView {
            host: b"www.example.com",
            path: path.as_bytes(),
            method: "GET",
            query: b"page=2",
            headers: &headers,
            client_ip: Some("10.0.0.1".parse().unwrap()),
        };
        let none = RequestView {
            path: b"/static/app.js",
            ..late
        };
        group.bench_with_input(BenchmarkId::new("late_match", n), &n, |b, _| {
            b.iter(|| black_box(table.find(black_box(&late))))
        });
        group.bench_with_input(BenchmarkId::new("no_match", n), &n, |b, _| {
            b.iter(|| black_box(table.find(black_box(&none))))
        });
    }
    group.finish();
}

/// The most common setup: one host with many path rules.
fn one_host_many_paths(c: &mut Criterion) {
    let mut group = c.benchmark_group("rules-one-host");
    let headers = HeaderMap::new();
    for n in [10usize, 100, 1000] {
        let table = RuleTable::build((0..n).map(|i| {
            let conditions = Conditions {
                host: vec!["api.example.com".into()],
                path: vec![format!("/v1/svc{i}/*")],
                ..Conditions::default()
            };
            (i as u32 + 1, conditions, i)
        }));
        let path = format!("/v1/svc{}/items", n - 1);
        let late = RequestView {
            host: b"api.example.com",
            path: path.as_bytes(),
            method: "GET",
            query: b"",
            headers: &headers,
            client_ip: Some("10.0.0.1".parse().unwrap()),
        };
        group.bench_with_input(BenchmarkId::new("late_match", n), &n, |b, _| {
            b.iter(|| black_box(table.find(black_box(&late))))
        });
    }
    group.finish();
}

criterion_group!(benches, matching, one_host_many_paths);
criterion_main!(benches);

//! `ballast echo`: a small backend for demos, tests and benchmarks.
//!
//! It answers every request with JSON describing it (instance name, method, path, headers,
//! body size), serves `/health`, and can inject latency and failures: `--delay` and
//! `--fail-rate` for the whole instance, `?delay=250ms`, `?status=503` and `?cookie=NAME`
//! (sets `NAME=<instance>`) per request.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{header, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde::Serialize;

/// Options of `ballast echo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct EchoArgs {
    /// Port to listen on (0 picks a free one; the address is printed on the first line).
    #[arg(long)]
    port: u16,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    bind: std::net::IpAddr,
    /// Name reported in every answer (default: echo-PORT).
    #[arg(long)]
    name: Option<String>,
    /// Latency added to every answer, e.g. `50ms`.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    delay: Duration,
    /// Share of requests answered with 500, from 0.0 to 1.0.
    #[arg(long, default_value_t = 0.0, value_parser = parse_rate)]
    fail_rate: f64,
    /// Exit when standard input closes (used by `ballast demo` so children die with it).
    #[arg(long, hide = true)]
    exit_on_stdin_close: bool,
}

#[derive(Serialize)]
struct EchoReply<'a> {
    instance: &'a str,
    method: &'a str,
    path: &'a str,
    query: &'a str,
    version: String,
    client: String,
    headers: BTreeMap<String, Vec<String>>,
    body_bytes: u64,
}

fn parse_rate(text: &str) -> Result<f64, String> {
    let rate: f64 = text.parse().map_err(|e| format!("{e}"))?;
    if (0.0..=1.0).contains(&rate) {
        Ok(rate)
    } else {
        Err("expected a number from 0.0 to 1.0".to_owned())
    }
}

/// Runs the echo server until killed.
pub(crate) fn main(args: EchoArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start runtime")?;
    runtime.block_on(serve(args))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(args: EchoArgs) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::new(args.bind, args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.bind, args.port))?;
    let address = listener.local_addr()?;
    let name: Arc<str> = args
        .name
        .clone()
        .unwrap_or_else(|| format!("echo-{}", address.port()))
        .into();
    {
        let mut out = std::io::stdout().lock();
        writeln!(out, "echo {name} listening on http://{address}")?;
        out.flush()?;
    }
    if args.exit_on_stdin_close {
        std::thread::spawn(|| {
            use std::io::Read;
            let mut sink = [0u8; 64];
            let mut stdin = std::io::stdin();
            while matches!(stdin.read(&mut sink), Ok(n) if n > 0) {}
            std::process::exit(0);
        });
    }
    let args = Arc::new(args);
    loop {
        let (stream, client) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        let (args, name) = (Arc::clone(&args), Arc::clone(&name));
        tokio::spawn(async move {
            let service =
                service_fn(move |req| answer(req, client, Arc::clone(&args), Arc::clone(&name)));
            let _closed = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    client: SocketAddr,
    args: Arc<EchoArgs>,
    name: Arc<str>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() == "/health" {
        return Ok(reply(
            StatusCode::OK,
            "text/plain",
            Bytes::from_static(b"ok\n"),
        ));
    }
    let query = req.uri().query().unwrap_or("").to_owned();
    let param = |key: &str| {
        query
            .split('&')
            .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
    };
    let delay = param("delay")
        .and_then(|d| humantime::parse_duration(d).ok())
        .unwrap_or(args.delay);
    let forced = param("status")
        .and_then(|s| s.parse::<u16>().ok())
        .and_then(|s| StatusCode::from_u16(s).ok());
    // `?cookie=NAME` sets NAME=<instance>, as an application starting a session does.
    let set_cookie = param("cookie")
        .filter(|n| {
            !n.is_empty()
                && n.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        })
        .and_then(|n| header::HeaderValue::from_str(&format!("{n}={name}; Path=/")).ok());

    let (parts, mut body) = req.into_parts();
    let mut body_bytes = 0u64;
    while let Some(frame) = body.frame().await {
        match frame {
            Ok(frame) => body_bytes += frame.data_ref().map_or(0, |d| d.len() as u64),
            Err(_) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    "text/plain",
                    Bytes::from_static(b"bad body\n"),
                ))
            }
        }
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = match forced {
        Some(status) => status,
        None if args.fail_rate > 0.0 && fastrand::f64() < args.fail_rate => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        None => StatusCode::OK,
    };
    let mut headers: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (key, value) in &parts.headers {
        headers
            .entry(key.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let echo = EchoReply {
        instance: &name,
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: &query,
        version: format!("{:?}", parts.version),
        client: client.to_string(),
        headers,
        body_bytes,
    };
    let mut json = serde_json::to_vec(&echo).unwrap_or_default();
    json.push(b'\n');
    let mut response = reply(status, "application/json", Bytes::from(json));
    if let Some(cookie) = set_cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

fn reply(status: StatusCode, content_type: &'static str, body: Bytes) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    response
}

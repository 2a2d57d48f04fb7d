//! WebSocket load for `bench/ws.sh`: an echo server, and a client that keeps CONNS
//! WebSockets busy with echoes (send one binary message, wait for it back, again) for a
//! bounded time. Both on one thread each, so the load side's cost stays on its own core.
//!
//!   ballast-wsbench serve ADDR
//!   ballast-wsbench load URL CONNS SECONDS SIZE
//!
//! `load` prints one line: `echoes N seconds S p50_ms X p99_ms Y errors E`.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let code = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["serve", addr] => runtime.block_on(serve(addr)),
        ["load", url, conns, seconds, size] => {
            match (conns.parse(), seconds.parse::<f64>(), size.parse()) {
                (Ok(c), Ok(s), Ok(z)) => runtime.block_on(load(url, c, s, z)),
                _ => usage(),
            }
        }
        _ => usage(),
    };
    std::process::exit(code);
}

fn usage() -> i32 {
    eprintln!("usage: ballast-wsbench serve ADDR | load URL CONNS SECONDS SIZE");
    2
}

async fn serve(addr: &str) -> i32 {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {addr}: {e}");
            return 1;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            while let Some(Ok(message)) = ws.next().await {
                if (message.is_binary() || message.is_text()) && ws.send(message).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn load(url: &str, conns: usize, seconds: f64, size: usize) -> i32 {
    let until = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..conns {
        let url = url.to_owned();
        tasks.push(tokio::spawn(async move {
            let config = WebSocketConfig::default();
            let mut samples = Vec::new();
            // ws://HOST:PORT/PATH: the TCP connection to HOST:PORT, then the handshake.
            let authority = url
                .trim_start_matches("ws://")
                .split('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let Ok(tcp) = tokio::net::TcpStream::connect(&authority).await else {
                return (samples, 1u64);
            };
            let _ = tcp.set_nodelay(true);
            let Ok((mut ws, _)) =
                tokio_tungstenite::client_async_with_config(url.as_str(), tcp, Some(config)).await
            else {
                return (samples, 1u64);
            };
            let payload = bytes::Bytes::from(vec![b'x'; size]);
            while Instant::now() < until {
                let sent = Instant::now();
                if ws.send(Message::Binary(payload.clone())).await.is_err() {
                    return (samples, 1);
                }
                match ws.next().await {
                    Some(Ok(Message::Binary(back))) if back.len() == size => {
                        samples.push(sent.elapsed().as_micros() as u64);
                    }
                    _ => return (samples, 1),
                }
            }
            let _ = ws.close(None).await;
            (samples, 0)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        match task.await {
            Ok((samples, e)) => {
                all.extend(samples);
                errors += e;
            }
            Err(_) => errors += 1,
        }
    }
    let took = started.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |&us| us as f64 / 1000.0)
    };
    println!(
        "echoes {} seconds {took:.3} p50_ms {:.3} p99_ms {:.3} errors {errors}",
        all.len(),
        pick(0.50),
        pick(0.99)
    );
    i32::from(all.is_empty())
}

//! TCP load for `bench/l4.sh`: an echo server, a request/response client over long-lived
//! connections, and a client that opens a new connection per request. Each runs on one
//! thread (a current-thread runtime), so its cost stays on the core it is pinned to.
//!
//!   ballast-tcpbench echo --listen ADDR
//!   ballast-tcpbench load --target ADDR --conns N --size BYTES --duration SECS [--warmup SECS]
//!   ballast-tcpbench connect --target ADDR --conns N --size BYTES --duration SECS
//!
//! A request is SIZE bytes written, and the same SIZE bytes read back and compared, then the
//! next. Every request carries a different pattern (connection and request number), so bytes
//! lost, duplicated or mixed between connections are counted as errors, not as requests.
//! `load` keeps CONNS connections busy; `connect` runs CONNS loops of connect, one request,
//! close. Each prints one line:
//!
//!   `requests N seconds S per_s R p50_ms X p99_ms Y errors E`
//!   `connections N seconds S per_s R p50_ms X p99_ms Y failures F`
//!
//! (latencies of a request, or of a whole connection with `connect`), and describes the
//! first few errors on stderr. The exit status is 1 when nothing completed.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Errors described on stderr; the rest are only counted.
const ERRORS_SHOWN: u64 = 5;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let code = match Args::parse(&args) {
        Some(Args::Echo { listen }) => runtime.block_on(echo(&listen)),
        Some(Args::Load(load)) => {
            // `spawn_local` keeps the per-connection tasks on this thread with `Rc` counters.
            let local = tokio::task::LocalSet::new();
            local.block_on(&runtime, run(load))
        }
        None => usage(),
    };
    std::process::exit(code);
}

fn usage() -> i32 {
    eprintln!(
        "usage: ballast-tcpbench echo --listen ADDR\n\
         \x20      ballast-tcpbench load --target ADDR --conns N --size BYTES --duration SECS [--warmup SECS]\n\
         \x20      ballast-tcpbench connect --target ADDR --conns N --size BYTES --duration SECS"
    );
    2
}

enum Args {
    Echo { listen: String },
    Load(Load),
}

/// The settings of `load` (`reconnect: false`) and `connect` (`reconnect: true`).
#[derive(Clone)]
struct Load {
    target: String,
    conns: usize,
    size: usize,
    duration: f64,
    warmup: f64,
    reconnect: bool,
}

impl Args {
    fn parse(args: &[String]) -> Option<Args> {
        let (command, rest) = args.split_first()?;
        // --key value pairs, every key at most once.
        let mut pairs: Vec<(&str, &str)> = Vec::new();
        for pair in rest.chunks(2) {
            let [key, value] = pair else { return None };
            let key = key.strip_prefix("--")?;
            if pairs.iter().any(|(k, _)| *k == key) {
                return None;
            }
            pairs.push((key, value));
        }
        let get = |key: &str| pairs.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
        let allowed: &[&str] = match command.as_str() {
            "echo" => &["listen"],
            "load" => &["target", "conns", "size", "duration", "warmup"],
            "connect" => &["target", "conns", "size", "duration"],
            _ => return None,
        };
        if pairs.iter().any(|(k, _)| !allowed.contains(k)) {
            return None;
        }
        if command == "echo" {
            return Some(Args::Echo {
                listen: get("listen")?.to_owned(),
            });
        }
        let seconds = |v: &str| v.parse::<f64>().ok().filter(|s| s.is_finite() && *s >= 0.0);
        let load = Load {
            target: get("target")?.to_owned(),
            conns: get("conns")?.parse().ok().filter(|&n| n > 0)?,
            size: get("size")?.parse().ok().filter(|&n| n > 0)?,
            duration: seconds(get("duration")?)?,
            warmup: get("warmup").map_or(Some(0.0), seconds)?,
            reconnect: command == "connect",
        };
        Some(Args::Load(load))
    }
}

async fn echo(listen: &str) -> i32 {
    let listener = match tokio::net::TcpListener::bind(listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("cannot listen on {listen}: {e}");
            return 1;
        }
    };
    loop {
        let mut stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Out of file descriptors, most likely: wait instead of spinning.
                eprintln!("accept: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 16 * 1024];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(n) => {
                        if stream.write_all(&buf[..n]).await.is_err() {
                            return;
                        }
                    }
                }
            }
        });
    }
}

/// Shared between the loops of one run: when counting starts and stops, errors so far.
struct Clock {
    measure_from: Instant,
    until: Instant,
    errors: Cell<u64>,
}

impl Clock {
    fn error(&self, what: &str, detail: &dyn std::fmt::Display) {
        let n = self.errors.get() + 1;
        self.errors.set(n);
        if n <= ERRORS_SHOWN {
            eprintln!("error {n}: {what}: {detail}");
        }
    }
}

async fn run(load: Load) -> i32 {
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(load.warmup);
    let clock = Rc::new(Clock {
        measure_from,
        until: measure_from + Duration::from_secs_f64(load.duration),
        errors: Cell::new(0),
    });
    let tasks: Vec<_> = (0..load.conns)
        .map(|id| {
            let (load, clock) = (load.clone(), Rc::clone(&clock));
            tokio::task::spawn_local(async move {
                if load.reconnect {
                    connections(&load, id, &clock).await
                } else {
                    requests(&load, id, &clock).await
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for task in tasks {
        match task.await {
            Ok(samples) => all.extend(samples),
            Err(e) => clock.error("a loop failed", &e),
        }
    }
    let errors = clock.errors.get();
    // From the end of the warm-up until the last loop stopped (each finishes the request it
    // had started when the time was up).
    let seconds = measure_from.elapsed().as_secs_f64();
    all.sort_unstable();
    let pick = |q: f64| {
        all.get(((all.len() as f64 * q).ceil() as usize).saturating_sub(1))
            .map_or(0.0, |&us| f64::from(us) / 1000.0)
    };
    let (unit, failed) = if load.reconnect {
        ("connections", "failures")
    } else {
        ("requests", "errors")
    };
    println!(
        "{unit} {} seconds {seconds:.3} per_s {:.0} p50_ms {:.3} p99_ms {:.3} {failed} {errors}",
        all.len(),
        all.len() as f64 / seconds.max(1e-9),
        pick(0.50),
        pick(0.99)
    );
    i32::from(all.is_empty())
}

/// The pattern of request `n` on loop `id`: distinct per connection and per request.
fn fill(buf: &mut [u8], id: usize, n: u64) {
    let seed =
        (id as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ n.wrapping_mul(0xD6E8_FEB8_6659_FD93);
    for (i, byte) in buf.iter_mut().enumerate() {
        *byte = (seed >> ((i % 8) * 8)) as u8 ^ (i as u8);
    }
}

/// One request on `stream`: writes `sent`, reads as many bytes into `back`, compares.
async fn exchange(stream: &mut TcpStream, sent: &[u8], back: &mut [u8]) -> Result<(), String> {
    stream
        .write_all(sent)
        .await
        .map_err(|e| format!("write: {e}"))?;
    let mut got = 0;
    while got < back.len() {
        match stream.read(&mut back[got..]).await {
            Ok(0) => {
                return Err(format!(
                    "closed by the peer after {got} of {} bytes",
                    back.len()
                ))
            }
            Ok(n) => got += n,
            Err(e) => return Err(format!("read after {got} of {} bytes: {e}", back.len())),
        }
    }
    if back != sent {
        return Err("the bytes read back differ from the bytes sent".to_owned());
    }
    Ok(())
}

/// `load`: one connection kept busy until the time is up. A failed connection is opened
/// again (after 10 ms), so one error does not silence the loop for the rest of the run.
/// Returns the latencies (µs) of the requests that began in the measured window.
async fn requests(load: &Load, id: usize, clock: &Clock) -> Vec<u32> {
    let mut samples = Vec::new();
    let (mut sent, mut back) = (vec![0u8; load.size], vec![0u8; load.size]);
    let mut n = 0u64;
    'connection: while Instant::now() < clock.until {
        let mut stream = match TcpStream::connect(&load.target).await {
            Ok(s) => s,
            Err(e) => {
                clock.error("connect", &e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        loop {
            let began = Instant::now();
            if began >= clock.until {
                break 'connection;
            }
            n += 1;
            fill(&mut sent, id, n);
            if let Err(e) = exchange(&mut stream, &sent, &mut back).await {
                clock.error(&format!("connection {id}, request {n}"), &e);
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue 'connection;
            }
            if began >= clock.measure_from {
                samples.push(micros(began));
            }
        }
    }
    samples
}

/// `connect`: connect, one request, close; again until the time is up. Returns the
/// latencies (µs, connect to close) of the connections that began in the measured window.
async fn connections(load: &Load, id: usize, clock: &Clock) -> Vec<u32> {
    let mut samples = Vec::new();
    let (mut sent, mut back) = (vec![0u8; load.size], vec![0u8; load.size]);
    let mut n = 0u64;
    loop {
        let began = Instant::now();
        if began >= clock.until {
            return samples;
        }
        n += 1;
        fill(&mut sent, id, n);
        let result = match TcpStream::connect(&load.target).await {
            Ok(mut stream) => {
                let _ = stream.set_nodelay(true);
                exchange(&mut stream, &sent, &mut back).await
                // Dropped here: the close (FIN) is part of the connection's cost.
            }
            Err(e) => Err(format!("connect: {e}")),
        };
        match result {
            Ok(()) if began >= clock.measure_from => samples.push(micros(began)),
            Ok(()) => {}
            Err(e) => {
                clock.error(&format!("loop {id}, connection {n}"), &e);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
}

fn micros(since: Instant) -> u32 {
    u32::try_from(since.elapsed().as_micros()).unwrap_or(u32::MAX)
}

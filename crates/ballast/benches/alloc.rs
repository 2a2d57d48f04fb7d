//! Allocations per proxied request, and heap held per idle keep-alive connection:
//! `cargo bench -p ballast --bench alloc`.
//!
//! The real proxy (`ballast_runtime::Runtime`, one worker thread) runs in this process behind
//! a counting global allocator (`stats_alloc`, so this crate needs no `unsafe`). Its two
//! targets are `ballast echo` child processes, so their allocations are not counted. The
//! client is this thread: one blocking keep-alive `TcpStream`, a request written from a
//! constant and the response read into a fixed buffer, so it allocates nothing per request.
//!
//! The counter is process-wide: it cannot tell the worker thread from the control thread,
//! whose periodic work (metric ticks, timers) also allocates. So each repetition counts
//! allocations during N requests, then during an idle window of the same length with the
//! connection open, and charges the requests with the difference. The workspace forbids
//! `unsafe`, which rules out a home-made allocator that could check a per-thread flag.
//!
//! `BALLAST_ALLOC_REQUESTS` sets N (default 20,000); the run takes a few seconds.

use std::alloc::System;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use stats_alloc::{Region, StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The GET, the same bytes every time.
const REQUEST: &[u8] =
    b"GET /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: alloc-bench\r\n\r\n";
/// Body bytes of the POST.
const POST_BODY: usize = 1024;

/// A POST whose 1 KiB body comes with its head (as most API requests do).
fn post_request() -> Vec<u8> {
    let mut post = format!(
        "POST /bench HTTP/1.1\r\nHost: bench.local\r\nUser-Agent: alloc-bench\r\n\
         Content-Type: application/octet-stream\r\nContent-Length: {POST_BODY}\r\n\r\n"
    )
    .into_bytes();
    post.resize(post.len() + POST_BODY, b'x');
    post
}
/// Requests before counting starts: connection pools, buffers and lazy statics settle.
const WARMUP_REQUESTS: u64 = 5_000;
/// Counted windows (each: N requests, then as long idle).
const REPETITIONS: usize = 3;
const DEFAULT_REQUESTS: u64 = 20_000;

fn main() -> anyhow::Result<()> {
    let requests = match std::env::var("BALLAST_ALLOC_REQUESTS") {
        Ok(text) => text
            .parse::<u64>()
            .ok()
            .filter(|n| *n > 0)
            .context("BALLAST_ALLOC_REQUESTS must be a positive number")?,
        Err(_) => DEFAULT_REQUESTS,
    };
    let targets = [Target::spawn()?, Target::spawn()?];
    let config = ballast_config::parse(&format!(
        r#"
[server]
workers = 1
drain_timeout = "1s"

[listeners.bench]
bind = "127.0.0.1:0"
default_action = {{ forward = "backends" }}

[target_groups.backends]
algorithm = "round_robin"
targets = ["{}", "{}"]
"#,
        targets[0].address, targets[1].address
    ))
    .map_err(|errors| anyhow::anyhow!("invalid bench config: {errors}"))?;
    let runtime = ballast_runtime::Runtime::start(config)?;
    let proxy = runtime
        .listeners()
        .first()
        .map(|(_, address)| *address)
        .context("the runtime reports no listener")?;

    let mut client = Client::connect(proxy)?;
    let post = post_request();
    for _ in 0..WARMUP_REQUESTS {
        client.send(REQUEST)?;
        client.send(&post)?;
    }

    println!(
        "ballast alloc bench: {} keep-alive requests per window through one worker, to 2 `ballast echo` targets",
        group(requests)
    );
    println!(
        "method: the global allocator counts on every thread; each window of requests is followed"
    );
    println!("by an idle window as long (connection open), whose count is subtracted (control thread, timers)");
    count_windows(&mut client, "GETs", REQUEST, requests)?;
    count_windows(&mut client, "POSTs with a 1 KiB body", &post, requests)?;

    idle_connections(proxy)?;

    drop(client);
    runtime.shutdown();
    Ok(())
}

/// Counts the allocations of `requests` keep-alive `request`s, in [`REPETITIONS`] windows,
/// and prints the median per request.
fn count_windows(
    client: &mut Client,
    what: &str,
    request: &[u8],
    requests: u64,
) -> anyhow::Result<()> {
    println!("{what}:");
    let mut per_request = Vec::with_capacity(REPETITIONS);
    for repetition in 1..=REPETITIONS {
        let busy = Region::new(GLOBAL);
        let started = Instant::now();
        for _ in 0..requests {
            client.send(request)?;
        }
        let elapsed = started.elapsed();
        let busy = busy.change();

        let idle = Region::new(GLOBAL);
        idle_for(elapsed);
        let idle = idle.change();

        let per = |busy: usize, idle: usize| busy.saturating_sub(idle) as f64 / requests as f64;
        let count = per(busy.allocations, idle.allocations);
        let size = per(busy.bytes_allocated, idle.bytes_allocated);
        let reallocations = per(busy.reallocations, idle.reallocations);
        println!(
            "window {repetition}: {} requests in {:.2} s: {} allocations ({} bytes), {} reallocations; \
             idle window: {} allocations, {} reallocations -> per request {count:.2} allocations \
             ({size:.0} bytes), {reallocations:.2} reallocations",
            group(requests),
            elapsed.as_secs_f64(),
            group(busy.allocations as u64),
            group(busy.bytes_allocated as u64),
            group(busy.reallocations as u64),
            group(idle.allocations as u64),
            group(idle.reallocations as u64),
        );
        per_request.push((count, size, reallocations));
    }
    per_request.sort_by(|a, b| a.0.total_cmp(&b.0));
    let (count, size, reallocations) = per_request[per_request.len() / 2];
    println!(
        "{what}: allocations per request: {count:.2} (bytes {}); reallocations per request: \
         {reallocations:.2} (median of {REPETITIONS} windows)",
        group(size.round() as u64)
    );
    Ok(())
}

/// Heap held per idle keep-alive connection: `IDLE_CONNECTIONS` clients each make one request
/// and stay open; what the process allocated and did not free over that, per connection. The
/// heap only (the allocator's own overhead and the kernel's socket memory are not in it), so
/// it shows what Ballast's code keeps per connection.
fn idle_connections(proxy: SocketAddr) -> anyhow::Result<()> {
    const IDLE_CONNECTIONS: usize = 2_000;
    let mut buffer = vec![0u8; 64 * 1024];
    let mut held = Vec::with_capacity(IDLE_CONNECTIONS);
    // The proxy's pools and the accept loop's lists settle with a first batch.
    let mut first = Vec::with_capacity(IDLE_CONNECTIONS);
    for _ in 0..IDLE_CONNECTIONS {
        let mut stream = TcpStream::connect(proxy)?;
        exchange(&mut stream, REQUEST, &mut buffer)?;
        first.push(stream);
    }
    let region = Region::new(GLOBAL);
    for _ in 0..IDLE_CONNECTIONS {
        let mut stream = TcpStream::connect(proxy)?;
        exchange(&mut stream, REQUEST, &mut buffer)?;
        held.push(stream);
    }
    // Let the worker finish with the last response.
    idle_for(Duration::from_millis(200));
    let change = region.change();
    let net_bytes = change.bytes_allocated as f64 - change.bytes_deallocated as f64
        + change.bytes_reallocated as f64;
    let net_allocations = change.allocations as f64 - change.deallocations as f64;
    println!(
        "heap held per idle keep-alive connection (the second {} of {} open at once): {:.0} bytes in {:.2} allocations",
        group(IDLE_CONNECTIONS as u64),
        group(2 * IDLE_CONNECTIONS as u64),
        net_bytes / IDLE_CONNECTIONS as f64,
        net_allocations / IDLE_CONNECTIONS as f64,
    );
    drop(held);
    drop(first);
    Ok(())
}

/// Waits without touching the proxy. A blocking sleep on the bench's own thread, which is no
/// runtime worker.
#[allow(clippy::disallowed_methods)]
fn idle_for(duration: Duration) {
    std::thread::sleep(duration);
}

/// `12345678` as `12,345,678`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

// === impl Target ===

/// A `ballast echo` child process, stopped when dropped.
struct Target {
    child: Child,
    address: SocketAddr,
}

impl Target {
    fn spawn() -> anyhow::Result<Self> {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ballast"))
            .args(["echo", "--port", "0", "--exit-on-stdin-close"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("cannot start `ballast echo`")?;
        // First line: "echo NAME listening on http://ADDRESS".
        let mut line = String::new();
        let stdout = child.stdout.take().context("no stdout")?;
        BufReader::new(stdout).read_line(&mut line)?;
        let address = line
            .trim()
            .rsplit("http://")
            .next()
            .and_then(|a| a.parse().ok());
        match address {
            Some(address) => Ok(Self { child, address }),
            None => {
                let _ = child.kill();
                let _ = child.wait();
                bail!("unexpected first line from `ballast echo`: {line:?}")
            }
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// === impl Client ===

/// A keep-alive HTTP/1.1 client that allocates nothing per request.
struct Client {
    stream: TcpStream,
    buffer: Box<[u8; 64 * 1024]>,
}

impl Client {
    fn connect(address: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(address)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        Ok(Self {
            stream,
            buffer: Box::new([0; 64 * 1024]),
        })
    }

    /// Sends `request` and reads the whole response.
    fn send(&mut self, request: &[u8]) -> anyhow::Result<()> {
        exchange(&mut self.stream, request, &mut self.buffer[..])
    }
}

/// Sends `request` on `stream` and reads the whole response (head and `Content-Length`
/// body) into `buffer`.
fn exchange(stream: &mut TcpStream, request: &[u8], buffer: &mut [u8]) -> anyhow::Result<()> {
    stream.write_all(request)?;
    let mut filled = 0;
    let (head_end, body_len) = loop {
        let n = stream.read(&mut buffer[filled..])?;
        if n == 0 {
            bail!("the proxy closed the connection");
        }
        filled += n;
        if let Some(end) = find_head_end(&buffer[..filled]) {
            break (end, parse_head(&buffer[..end])?);
        }
        if filled == buffer.len() {
            bail!("response head larger than the buffer");
        }
    };
    let total = head_end + body_len;
    if total > buffer.len() {
        bail!("response larger than the buffer");
    }
    while filled < total {
        let n = stream.read(&mut buffer[filled..total])?;
        if n == 0 {
            bail!("the proxy closed the connection mid-body");
        }
        filled += n;
    }
    if filled > total {
        bail!("more bytes than one response: the proxy answered something not asked for");
    }
    Ok(())
}

/// Index just past the `\r\n\r\n` ending the head, if it is there.
fn find_head_end(bytes: &[u8]) -> Option<usize> {
    bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| i + 4)
}

/// Checks the status is 200 and returns the `Content-Length`.
fn parse_head(head: &[u8]) -> anyhow::Result<usize> {
    if !head.starts_with(b"HTTP/1.1 200 ") {
        let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
        bail!("unexpected status line {:?}", String::from_utf8_lossy(line));
    }
    for line in head.split(|&b| b == b'\n').skip(1) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], &line[colon + 1..]);
        if name.eq_ignore_ascii_case(b"content-length") {
            let value = std::str::from_utf8(value)?.trim();
            return Ok(value.parse()?);
        }
        if name.eq_ignore_ascii_case(b"transfer-encoding") {
            bail!("chunked responses are not expected from `ballast echo`");
        }
    }
    bail!("response without Content-Length")
}

//! The access log: one JSON line per request, written by a thread of its own.
//!
//! Workers push finished records onto a bounded lock-free queue and never wait, and never
//! wake the writer either (a wake-up per line would cost a futex call per request): the
//! writer drains the queue every few milliseconds. When it falls behind, lines are dropped
//! and counted (`ballast_access_log_dropped_total`). The file is reopened on request
//! (SIGUSR1), so `logrotate` can move it away.

use crossbeam_queue::ArrayQueue;
use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ballast_config::{AccessLogConfig, AccessLogOutput};
use serde::Serialize;

use crate::MetricsRegistry;

/// One request (or L4 connection) as the access log records it. Times are in seconds, `-1`
/// when the phase did not happen (as ALB's logs).
#[derive(Debug, Clone, Serialize)]
pub struct AccessLogLine {
    /// When the request arrived, RFC 3339 with milliseconds, UTC.
    pub time: String,
    /// The listener's name.
    pub listener: String,
    /// The client's address and port (the TCP peer).
    pub client: String,
    /// The target's address and port, when one was chosen.
    pub target: Option<String>,
    /// From the request head to sending it to a target (routing, choosing, connecting).
    pub request_processing_time: f64,
    /// From sending the request to the target's response head.
    pub target_processing_time: f64,
    /// From the response head to the response's last byte sent.
    pub response_processing_time: f64,
    /// The status Ballast sent to the client.
    pub status: u16,
    /// The target's status, when a target answered.
    pub target_status: Option<u16>,
    /// Request body bytes received.
    pub received_bytes: u64,
    /// Response body bytes sent.
    pub sent_bytes: u64,
    /// `METHOD scheme://host:port/path?query HTTP/version`, as ALB writes it.
    pub request: String,
    /// The client's `User-Agent`.
    pub user_agent: Option<String>,
    /// TLS version, on `https` listeners.
    pub tls_protocol: Option<String>,
    /// TLS cipher suite, on `https` listeners.
    pub tls_cipher: Option<String>,
    /// The target group the request was forwarded to.
    pub target_group: Option<String>,
    /// The rule that matched: its priority, or `default`.
    pub rule: String,
    /// What the rule did: `forward`, `redirect` or `fixed-response`.
    pub action: &'static str,
    /// The W3C trace id of the request.
    pub trace_id: Option<String>,
    /// The request id (`X-Request-Id`) sent to the target.
    pub request_id: Option<String>,
    /// Why Ballast answered on its own, when it did (`Target.ConnectionRefused`, …).
    pub error_reason: Option<&'static str>,
    /// The web application firewall rule that decided the request (or the first that
    /// counted it).
    pub waf_rule: Option<String>,
    /// What the firewall did: `allow`, `block`, `count` (a rule), or `default`.
    pub waf_action: Option<&'static str>,
    /// An HTTP/1 request's desync class (`Compliant`, `Acceptable`, `Ambiguous`,
    /// `Severe`), as ALB's `classification` field.
    pub classification: Option<&'static str>,
    /// Why it has that class (`BothTeClPresent`, …), as ALB's `classification_reason`.
    pub classification_reason: Option<&'static str>,
}

/// The sending side of the access log, shared by every worker.
#[derive(Debug)]
pub struct AccessLog {
    queue: Arc<ArrayQueue<AccessLogLine>>,
    reopen: Arc<AtomicBool>,
    metrics: Arc<MetricsRegistry>,
    config: AccessLogConfig,
}

/// Why the access log could not start.
#[derive(Debug, thiserror::Error)]
pub enum AccessLogError {
    /// The file could not be opened for appending.
    #[error("access_log.path: cannot open \"{path}\": {reason}")]
    Open {
        /// The file.
        path: PathBuf,
        /// The operating system's reason.
        reason: std::io::Error,
    },
    /// The writer thread could not start.
    #[error("cannot start the access log writer: {0}")]
    Thread(std::io::Error),
}

impl AccessLog {
    /// Opens the output and starts the writer thread. The thread ends once every handle to
    /// this log is dropped and the queue is written out.
    pub fn start(
        config: &AccessLogConfig,
        metrics: Arc<MetricsRegistry>,
    ) -> Result<Arc<Self>, AccessLogError> {
        let output = Output::open(&config.output)?;
        let queue = Arc::new(ArrayQueue::new(config.queue));
        let lines = Arc::clone(&queue);
        let reopen = Arc::new(AtomicBool::new(false));
        let writer = Writer {
            output,
            target: config.output.clone(),
            reopen: Arc::clone(&reopen),
            metrics: Arc::clone(&metrics),
        };
        std::thread::Builder::new()
            .name("ballast-access-log".to_owned())
            .spawn(move || writer.run(&lines))
            .map_err(AccessLogError::Thread)?;
        Ok(Arc::new(Self {
            queue,
            reopen,
            metrics,
            config: config.clone(),
        }))
    }

    /// Queues a line; never blocks. A full queue drops the line and counts it.
    pub fn log(&self, line: AccessLogLine) {
        if self.queue.push(line).is_err() {
            self.metrics.access_log_dropped.inc();
        }
    }

    /// Asks the writer to reopen its file before the next line (log rotation).
    pub fn reopen(&self) {
        self.reopen.store(true, Ordering::Relaxed);
    }

    /// The configuration this log was started with (a reload with another one starts a new log).
    pub fn config(&self) -> &AccessLogConfig {
        &self.config
    }
}

/// The current time as RFC 3339 with milliseconds, for [`AccessLogLine::time`].
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

enum Output {
    Stdout(std::io::Stdout),
    File(BufWriter<File>),
}

impl Output {
    fn open(output: &AccessLogOutput) -> Result<Self, AccessLogError> {
        match output {
            AccessLogOutput::Stdout => Ok(Output::Stdout(std::io::stdout())),
            AccessLogOutput::File(path) => OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map(|f| Output::File(BufWriter::with_capacity(64 * 1024, f)))
                .map_err(|reason| AccessLogError::Open {
                    path: path.clone(),
                    reason,
                }),
        }
    }

    fn write_line(&mut self, line: &AccessLogLine) -> std::io::Result<()> {
        match self {
            Output::Stdout(out) => {
                let mut out = out.lock();
                serde_json::to_writer(&mut out, line)?;
                out.write_all(b"\n")
            }
            Output::File(out) => {
                serde_json::to_writer(&mut *out, line)?;
                out.write_all(b"\n")
            }
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Output::Stdout(out) => out.flush(),
            Output::File(out) => out.flush(),
        }
    }
}

/// How often the writer drains the queue: lines reach the file at most this late.
const WRITER_PERIOD: Duration = Duration::from_millis(5);

/// The longest the writer sleeps when there is nothing to write.
const WRITER_IDLE_PERIOD: Duration = Duration::from_millis(100);

struct Writer {
    output: Output,
    target: AccessLogOutput,
    reopen: Arc<AtomicBool>,
    metrics: Arc<MetricsRegistry>,
}

impl Writer {
    fn run(mut self, lines: &Arc<ArrayQueue<AccessLogLine>>) {
        let mut period = WRITER_PERIOD;
        loop {
            self.maybe_reopen();
            let mut wrote = false;
            while let Some(line) = lines.pop() {
                wrote = true;
                match self.output.write_line(&line) {
                    Ok(()) => self.metrics.access_log_lines.inc(),
                    Err(error) => {
                        self.metrics.access_log_dropped.inc();
                        tracing::warn!(%error, "access log write failed");
                    }
                }
            }
            if wrote {
                self.flush();
                period = WRITER_PERIOD;
            } else {
                // Quiet: look less often (a quiet log is at most `WRITER_IDLE_PERIOD` late).
                period = (period * 2).min(WRITER_IDLE_PERIOD);
            }
            // Every handle is gone (a reload replaced this log, or shutdown) and the queue
            // is written out: done.
            if Arc::strong_count(lines) == 1 && lines.is_empty() {
                self.flush();
                return;
            }
            std::thread::park_timeout(period);
        }
    }

    fn flush(&mut self) {
        if let Err(error) = self.output.flush() {
            tracing::warn!(%error, "access log flush failed");
        }
    }

    fn maybe_reopen(&mut self) {
        if !self.reopen.swap(false, Ordering::Relaxed) {
            return;
        }
        self.flush();
        match Output::open(&self.target) {
            Ok(output) => {
                self.output = output;
                tracing::info!("access log reopened");
            }
            Err(error) => {
                tracing::error!(%error, "access log reopen failed; writing to the old file")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u16) -> AccessLogLine {
        AccessLogLine {
            time: timestamp(SystemTime::UNIX_EPOCH),
            listener: "web".into(),
            client: "127.0.0.1:5000".into(),
            target: None,
            request_processing_time: 0.0,
            target_processing_time: -1.0,
            response_processing_time: 0.0,
            status: n,
            target_status: None,
            received_bytes: 0,
            sent_bytes: 0,
            request: "GET http://a:80/ HTTP/1.1".into(),
            user_agent: None,
            tls_protocol: None,
            tls_cipher: None,
            target_group: None,
            rule: "default".into(),
            action: "fixed-response",
            trace_id: None,
            request_id: None,
            error_reason: None,
            waf_rule: None,
            waf_action: None,
            classification: None,
            classification_reason: None,
        }
    }

    // Polls a condition from a plain test thread (no async runtime to block).
    #[allow(clippy::disallowed_methods)]
    fn wait_for(mut condition: impl FnMut() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !condition() {
            assert!(
                std::time::Instant::now() < deadline,
                "condition not met in 10 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn writes_lines_and_reopens_after_rotation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("access.log");
        let config = AccessLogConfig {
            output: AccessLogOutput::File(path.clone()),
            queue: 16,
        };
        let metrics = Arc::new(MetricsRegistry::default());
        let log = AccessLog::start(&config, Arc::clone(&metrics)).unwrap();
        log.log(line(200));
        wait_for(|| {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .lines()
                .count()
                == 1
        });
        let first: serde_json::Value =
            serde_json::from_str(std::fs::read_to_string(&path).unwrap().trim()).unwrap();
        assert_eq!(first["status"], 200);
        assert_eq!(first["time"], "1970-01-01T00:00:00.000Z");
        let rotated = dir.path().join("access.log.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        log.log(line(404));
        wait_for(|| {
            std::fs::read_to_string(&path)
                .unwrap_or_default()
                .contains("404")
        });
        assert!(!std::fs::read_to_string(&rotated).unwrap().contains("404"));
        assert_eq!(metrics.access_log_lines.get(), 2);
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let metrics = Arc::new(MetricsRegistry::default());
        let log = AccessLog {
            queue: Arc::new(ArrayQueue::new(1)),
            reopen: Arc::new(AtomicBool::new(false)),
            metrics: Arc::clone(&metrics),
            config: AccessLogConfig {
                output: AccessLogOutput::Stdout,
                queue: 1,
            },
        };
        log.log(line(200));
        log.log(line(200));
        log.log(line(200));
        assert_eq!(metrics.access_log_dropped.get(), 2);
    }
}

//! One request's record, from its head to its last response byte: metrics and the access
//! log line are written when it is dropped, with what the client actually received however
//! the exchange ended (read to the end, client gone mid-body, error page).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use ballast_telemetry::metrics::ListenerMetrics;
use ballast_telemetry::{AccessLog, AccessLogLine};

use crate::conn::TlsInfo;
use crate::snapshot::{Target, TargetGroup};

/// The status recorded for a request whose client left before any response head, as NGINX's
/// 499: it was never sent, but operators need to see these requests.
const CLIENT_CLOSED: u16 = 499;

/// What the request's action did (counted per kind, named in the access log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ActionKind {
    /// Sent to a target group.
    Forward,
    /// Answered with a redirect.
    Redirect,
    /// Answered with a fixed response.
    FixedResponse,
    /// Answered 429: over a rate limit.
    RateLimited,
    /// Answered with a web application firewall's block response.
    WafBlocked,
}

impl ActionKind {
    /// The access log's name for it.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ActionKind::Forward => "forward",
            ActionKind::Redirect => "redirect",
            ActionKind::FixedResponse => "fixed-response",
            ActionKind::RateLimited => "rate-limit",
            ActionKind::WafBlocked => "waf-block",
        }
    }
}

/// What a request did, filled in as it goes.
#[derive(Debug)]
pub(crate) struct Exchange {
    listener: Option<Arc<ListenerMetrics>>,
    pub(crate) group: Option<Arc<TargetGroup>>,
    pub(crate) target: Option<Arc<Target>>,
    pub(crate) rule: Option<u32>,
    pub(crate) action: ActionKind,
    /// Set once the response head is known.
    status: u16,
    target_status: Option<u16>,
    pub(crate) error_reason: Option<&'static str>,
    /// The web application firewall rule that decided or counted, and what it did.
    pub(crate) waf: Option<(Option<std::sync::Arc<str>>, &'static str)>,
    /// Request body bytes received.
    pub(crate) received: u64,
    sent_bytes: u64,
    upgrade: Upgrade,
    log: Option<Box<LogHead>>,
}

/// Where a request stands on a protocol upgrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Upgrade {
    /// Not asked for.
    No,
    /// Asked for, not (yet) granted: counted as refused unless the target switches.
    Asked,
    /// The target answered `101`: the connection is a tunnel, open.
    Switched,
    /// The tunnel closed.
    Closed,
}

/// What the access log reads from a request head, whichever protocol carried it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogFacts<'a> {
    pub(crate) listener: &'a str,
    pub(crate) client: SocketAddr,
    pub(crate) scheme: &'a str,
    pub(crate) method: &'a [u8],
    pub(crate) authority: &'a [u8],
    /// Path and query as sent.
    pub(crate) target: &'a [u8],
    /// `HTTP/1.1`, `HTTP/2.0`.
    pub(crate) version: &'a str,
    pub(crate) user_agent: Option<&'a [u8]>,
    pub(crate) tls: Option<&'a TlsInfo>,
    /// The desync classification of an HTTP/1 request (`None` for HTTP/2).
    pub(crate) desync: Option<crate::codec::desync::DesyncReason>,
}

/// What the access log needs from the request head, copied only when logging is on.
#[derive(Debug)]
struct LogHead {
    sink: Arc<AccessLog>,
    listener: String,
    time: std::time::SystemTime,
    /// When the request began, when the (last) attempt was sent to a target, and when its
    /// head came back: only the access log needs them, so they cost nothing when it is off.
    started: Instant,
    sent_at: Option<Instant>,
    answered_at: Option<Instant>,
    client: SocketAddr,
    request: String,
    user_agent: Option<String>,
    tls: Option<(String, String)>,
    desync: Option<crate::codec::desync::DesyncReason>,
    trace_id: Option<String>,
    request_id: Option<String>,
}

impl Exchange {
    /// Starts the record of a request; counts it on its listener.
    pub(crate) fn new(metrics: Option<&Arc<ListenerMetrics>>) -> Self {
        if let Some(m) = metrics {
            m.requests.inc();
        }
        Self {
            listener: metrics.cloned(),
            group: None,
            target: None,
            rule: None,
            action: ActionKind::Forward,
            status: 0,
            target_status: None,
            error_reason: None,
            waf: None,
            received: 0,
            sent_bytes: 0,
            upgrade: Upgrade::No,
            log: None,
        }
    }

    /// Copies what the access log needs from the request head (only when it is on).
    pub(crate) fn start_log(&mut self, sink: &Arc<AccessLog>, facts: &LogFacts<'_>) {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let authority = if facts.authority.is_empty() {
            "-".to_owned()
        } else {
            text(facts.authority)
        };
        let request = format!(
            "{} {}://{authority}{} {}",
            text(facts.method),
            facts.scheme,
            text(facts.target),
            facts.version
        );
        self.log = Some(Box::new(LogHead {
            sink: Arc::clone(sink),
            listener: facts.listener.to_owned(),
            time: std::time::SystemTime::now(),
            started: Instant::now(),
            sent_at: None,
            answered_at: None,
            client: facts.client,
            request,
            user_agent: facts.user_agent.map(text),
            tls: facts.tls.map(|t| (t.version.to_owned(), t.cipher.clone())),
            desync: facts.desync,
            trace_id: None,
            request_id: None,
        }));
    }

    /// Notes the ids sent to the target, for the log line.
    pub(crate) fn set_ids(&mut self, trace_id: impl FnOnce() -> String, request_id: &[u8]) {
        if let Some(log) = &mut self.log {
            log.trace_id = Some(trace_id());
            log.request_id = Some(String::from_utf8_lossy(request_id).into_owned());
        }
    }

    /// Whether the access log is on for this request (ids are copied only then).
    pub(crate) fn logging(&self) -> bool {
        self.log.is_some()
    }

    /// An attempt is sent to a target at `at`.
    pub(crate) fn sending(&mut self, at: Instant) {
        if let Some(log) = &mut self.log {
            log.sent_at = Some(at);
        }
    }

    /// The response head is known: from a target at `target_answered`, or Ballast's own.
    pub(crate) fn answered(&mut self, status: u16, target_answered: Option<Instant>) {
        self.status = status;
        if let Some(at) = target_answered {
            self.target_status = Some(status);
            if let Some(log) = &mut self.log {
                log.answered_at = Some(at);
            }
        }
    }

    /// Counts a listener limit that fired on this request.
    pub(crate) fn limit_hit(&self, limit: ballast_telemetry::metrics::Limit) {
        if let Some(m) = &self.listener {
            m.limit_hit(limit);
        }
    }

    /// The request asks for a protocol upgrade (WebSocket).
    pub(crate) fn upgrade_asked(&mut self) {
        self.upgrade = Upgrade::Asked;
    }

    /// The target switched protocols: a tunnel opens (counted as accepted and active).
    pub(crate) fn switched(&mut self) {
        self.upgrade = Upgrade::Switched;
        if let Some(m) = &self.listener {
            m.upgrades.inc();
            m.upgrades_active.inc();
        }
    }

    /// The tunnel closed, having carried these bytes each way (they count as the request's
    /// received and sent bytes, as a cloud load balancer's processed bytes do).
    pub(crate) fn tunnel_closed(&mut self, from_client: u64, from_target: u64) {
        self.received += from_client;
        self.sent_bytes += from_target;
        self.upgrade = Upgrade::Closed;
        if let Some(m) = &self.listener {
            m.upgrades_active.dec();
            m.upgraded_bytes_from_client.add(from_client);
            m.upgraded_bytes_from_target.add(from_target);
        }
    }

    /// Counts body bytes sent to the client.
    #[inline]
    pub(crate) fn sent(&mut self, bytes: u64) {
        self.sent_bytes += bytes;
    }
}

fn seconds(from: Option<Instant>, to: Option<Instant>) -> f64 {
    match (from, to) {
        (Some(from), Some(to)) => to.saturating_duration_since(from).as_secs_f64(),
        _ => -1.0,
    }
}

impl Drop for Exchange {
    fn drop(&mut self) {
        if self.status == 0 {
            // The client went away before any response head (nginx logs these as 499).
            self.status = CLIENT_CLOSED;
            self.error_reason.get_or_insert("Client.Closed");
        }
        if let Some(m) = &self.listener {
            m.responses.record(self.status);
            if self.error_reason.is_some() {
                m.errors.record(self.status);
            }
            match self.action {
                ActionKind::Redirect => m.redirects.inc(),
                ActionKind::FixedResponse => m.fixed_responses.inc(),
                // Counted by the limit that fired (`limit="rate_limit"`), or by the WAF
                // rule that blocked.
                ActionKind::Forward | ActionKind::RateLimited | ActionKind::WafBlocked => {}
            }
            m.sent_bytes.add(self.sent_bytes);
            m.received_bytes.add(self.received);
            match self.upgrade {
                Upgrade::Asked => m.upgrades_refused.inc(),
                // Dropped with the tunnel open (a drain that ran out of time).
                Upgrade::Switched => m.upgrades_active.dec(),
                Upgrade::No | Upgrade::Closed => {}
            }
        }
        let Some(log) = self.log.take() else { return };
        let done = Instant::now();
        let (tls_protocol, tls_cipher) = match log.tls {
            Some((v, c)) => (Some(v), Some(c)),
            None => (None, None),
        };
        let request_end = log.sent_at.unwrap_or(done);
        log.sink.log(AccessLogLine {
            time: ballast_telemetry::timestamp(log.time),
            listener: log.listener,
            client: log.client.to_string(),
            target: self.target.as_ref().map(|t| t.address.to_string()),
            request_processing_time: seconds(Some(log.started), Some(request_end)),
            target_processing_time: seconds(log.sent_at, log.answered_at),
            response_processing_time: seconds(log.answered_at.or(Some(request_end)), Some(done)),
            status: self.status,
            target_status: self.target_status,
            received_bytes: self.received,
            sent_bytes: self.sent_bytes,
            request: log.request,
            user_agent: log.user_agent,
            tls_protocol,
            tls_cipher,
            target_group: self.group.as_ref().map(|g| g.name.0.to_string()),
            rule: self
                .rule
                .map_or_else(|| "default".to_owned(), |p| p.to_string()),
            action: self.action.as_str(),
            trace_id: log.trace_id,
            request_id: log.request_id,
            error_reason: self.error_reason,
            waf_rule: self
                .waf
                .as_ref()
                .and_then(|(r, _)| r.as_deref().map(str::to_owned)),
            waf_action: self.waf.as_ref().map(|(_, a)| *a),
            classification: log.desync.map(|d| d.class().as_str()),
            classification_reason: log.desync.map(|d| d.as_str()),
        });
    }
}

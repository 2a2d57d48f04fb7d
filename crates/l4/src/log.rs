//! One access-log line per L4 connection (or UDP flow), written when it ends, and the
//! counters of how connections end.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ballast_config::{GroupName, ListenerName, ListenerProtocol};
use ballast_telemetry::l4::Ending;
use ballast_telemetry::metrics::{ListenerMetrics, TargetMetrics};
use ballast_telemetry::{AccessLog, AccessLogLine};

use crate::relay::RelayEnding;
use crate::snapshot::{L4Listener, L4Target};

pub use ballast_telemetry::l4::Refusal as Outcome;

/// What the access-log line of a connection will say.
#[derive(Debug)]
pub struct ConnLog {
    sink: Option<Arc<AccessLog>>,
    listener: ListenerName,
    protocol: ListenerProtocol,
    metrics: Option<Arc<ListenerMetrics>>,
    started: Instant,
    started_at: SystemTime,
    /// The client, as a trusted PROXY header told it.
    pub client: SocketAddr,
    /// The rule that chose the route (`None`: the default action).
    pub rule: Option<u32>,
    /// The server name the client asked for.
    pub server_name: Option<String>,
    /// The group it went to.
    pub group: Option<GroupName>,
    /// The target it went to.
    pub target: Option<SocketAddr>,
    /// That target's counters, for its bytes and endings.
    target_metrics: Option<Arc<TargetMetrics>>,
    /// Time to connect to the target.
    pub connect_time: Option<Duration>,
}

impl ConnLog {
    /// The line of a connection of `listener` from `client`, begun at `started`.
    pub fn new(
        listener: &L4Listener,
        client: SocketAddr,
        sink: Option<Arc<AccessLog>>,
        started: Instant,
    ) -> Self {
        Self {
            sink,
            listener: listener.name.clone(),
            protocol: listener.protocol,
            metrics: listener.metrics.clone(),
            started,
            started_at: SystemTime::now(),
            client,
            rule: None,
            server_name: None,
            group: None,
            target: None,
            target_metrics: None,
            connect_time: None,
        }
    }

    /// The connection (or flow) goes to `target`.
    pub fn set_target(&mut self, target: &L4Target) {
        self.target = Some(target.address);
        self.target_metrics = target.metrics.clone();
    }

    /// The connection was closed before it was forwarded.
    pub fn refused(&self, outcome: Outcome, metrics: &Option<Arc<ListenerMetrics>>) {
        if let Some(m) = metrics {
            m.l4.refuse(outcome);
        }
        tracing::debug!(listener = %self.listener, client = %self.client, reason = outcome.as_str(), "L4 connection not forwarded");
        let action = if outcome == Outcome::Rejected {
            "reject"
        } else {
            "forward"
        };
        self.write(Some(outcome.as_str()), 0, 0, action);
    }

    /// The connection was forwarded and has ended.
    pub fn finished(&self, ending: RelayEnding, from_client: u64, from_target: u64) {
        let counted = match ending {
            RelayEnding::Closed => Ending::Closed,
            RelayEnding::Idle => Ending::Idle,
            RelayEnding::Client => Ending::ClientReset,
            RelayEnding::Target => Ending::TargetReset,
            RelayEnding::Cut => Ending::Deregistered,
        };
        if let Some(m) = &self.metrics {
            m.received_bytes.add(from_client);
            m.sent_bytes.add(from_target);
            m.l4.end(counted);
        }
        if let Some(t) = &self.target_metrics {
            t.l4.end(counted, from_client, from_target);
        }
        self.write(counted.error_reason(), from_client, from_target, "forward");
    }

    /// A UDP flow has ended. Its bytes were counted as each datagram moved; only the
    /// ending is counted here.
    pub fn flow_ended(&self, ending: Ending, from_client: u64, from_target: u64) {
        if let Some(m) = &self.metrics {
            m.l4.end(ending);
        }
        if let Some(t) = &self.target_metrics {
            t.l4.end(ending, from_client, from_target);
        }
        self.write(ending.error_reason(), from_client, from_target, "forward");
    }

    fn write(&self, reason: Option<&'static str>, received: u64, sent: u64, action: &'static str) {
        let Some(sink) = &self.sink else {
            return;
        };
        let request = match &self.server_name {
            Some(name) => format!("{} {name}", self.protocol.name()),
            None => self.protocol.name().to_owned(),
        };
        sink.log(AccessLogLine {
            time: ballast_telemetry::timestamp(self.started_at),
            listener: self.listener.to_string(),
            client: self.client.to_string(),
            target: self.target.map(|t| t.to_string()),
            request_processing_time: self.connect_time.map_or(-1.0, |d| d.as_secs_f64()),
            target_processing_time: self.started.elapsed().as_secs_f64(),
            response_processing_time: 0.0,
            status: 0,
            target_status: None,
            received_bytes: received,
            sent_bytes: sent,
            request,
            user_agent: None,
            tls_protocol: None,
            tls_cipher: None,
            target_group: self.group.as_ref().map(ToString::to_string),
            rule: self
                .rule
                .map_or_else(|| "default".to_owned(), |p| p.to_string()),
            action,
            trace_id: None,
            request_id: None,
            error_reason: reason,
            waf_rule: None,
            waf_action: None,
            classification: None,
            classification_reason: None,
        });
    }
}

//! Ballast configuration: the TOML file a user writes, turned into a typed [`Config`].
//!
//! Control plane, layer 0: this crate imports nothing of ours and no async runtime. It owns
//! two layers — [`raw`] (serde structs that mirror the file and reject unknown keys) and the
//! validated model in [`model`] (real types, defaults resolved) — and the errors that name the
//! exact key path of every problem. Other crates run on [`Config`]; those that show or edit
//! the file as written (the admin API, the reload path) hold a [`Document`], which has typed
//! edits, secret redaction and a typed diff.

mod algorithm;
mod cluster;
pub mod defaults;
mod dns;
mod document;
mod duration;
mod edge;
mod error;
mod health;
mod l4;
mod model;
mod ops;
pub mod raw;
mod rewrite;
mod rules;
mod scaling;
mod secret;
mod tls;
mod validate;
mod waf;

pub use cluster::ClusterConfig;
pub use defaults::MAX_ECHOED_VALUE;
pub use dns::{
    AliasTarget, DnsCheckKind, DnsConfig, DnsHealthCheck, MemberConfig, MemberValues, Name, RData,
    RecordSetConfig, RecordType, Routing, SoaConfig, ZoneConfig,
};
pub use document::{
    Change, ChangeKind, Document, DocumentDiff, EditError, NameChanges, Sparse, REDACTED,
};
pub use edge::{CidrSet, ClientLimits, DesyncMode, EdgePolicy, Rate, RateKey, RateLimitConfig};
pub use error::{ConfigError, ConfigErrors, ErrorKind, KeyPath};
pub use health::{
    HealthCheckConfig, HealthCheckKind, OutlierDetectionConfig, RetryConfig, StatusMatcher,
};
pub use l4::{L4ListenerConfig, ProxyProtocolVersion};
pub use model::{
    Action, Algorithm, Config, CookieAttributes, GroupName, HashKey, HttpListenerLimits,
    ListenerConfig, ListenerName, ListenerProtocol, MinBodyRate, ProtocolVersion, ServerConfig,
    StickinessConfig, StickinessKind, TargetConfig, TargetGroupConfig, TargetProtocol,
    WeightedForward, Workers,
};
pub use ops::{AccessLogConfig, AccessLogOutput, AdminConfig, MetricsConfig};
pub use rewrite::{
    HeaderRewrite, BALLAST_REQUEST_HEADERS, MAX_REWRITE_FIELDS, MAX_REWRITE_VALUE,
    PROTECTED_HEADERS,
};
pub use rules::{
    Cidr, Conditions, FixedResponse, HeaderCondition, QueryCondition, RedirectConfig, Rule,
};
pub use scaling::{
    check_steps, AdjustmentKind, AlarmConfig, Comparison, MissingData, ProviderConfig,
    ScalingGroupConfig, ScalingMetric, ScalingPolicyConfig, ScheduledActionConfig, Statistic, Step,
    StepError, TerminationPolicy, MAX_SCALING_CAPACITY, MAX_STEPS,
};
pub use secret::Secret;
pub use tls::{
    AcmeChallenge, AcmeConfig, CertificateFiles, ClientCertificateMode, ClientCertificates,
    ListenerTls, TargetTls, TlsPolicy,
};
pub use waf::{
    ballast_core_rules, Oversize, Transform, WafAction, WafCondition, WafConfig, WafField, WafRule,
    WafTest, BALLAST_CORE,
};

/// Parses and validates a configuration document.
///
/// Every problem found is reported at once, each with the key path it concerns, so a user
/// fixes a file in one round trip rather than one error at a time.
pub fn parse(text: &str) -> Result<Config, ConfigErrors> {
    let raw = raw::parse(text)?;
    validate::validate(raw)
}

/// Validates a configuration given as JSON (as the admin API receives it).
pub fn parse_json(document: &serde_json::Value) -> Result<Config, ConfigErrors> {
    let raw = raw::parse_json(document)?;
    validate::validate(raw)
}

/// Reads, parses and validates a configuration file.
pub fn load_file(path: &std::path::Path) -> Result<Config, ConfigErrors> {
    parse(&read_file(path)?)
}

/// Reads a configuration file's text, refusing one over [`defaults::MAX_CONFIG_BYTES`]
/// without reading further: its size is checked first, and the read stops at the limit in
/// case the file grows meanwhile or has no size (a pipe, `/dev/zero`).
pub fn read_file(path: &std::path::Path) -> Result<String, ConfigErrors> {
    use std::io::Read;
    let io_error = |source: std::io::Error| {
        ConfigErrors::single(ConfigError::new(
            KeyPath::root(),
            ErrorKind::Io {
                path: path.display().to_string(),
                reason: source.to_string(),
            },
        ))
    };
    let file = std::fs::File::open(path).map_err(io_error)?;
    raw::check_size(file.metadata().map_err(io_error)?.len())?;
    let mut text = String::new();
    file.take(defaults::MAX_CONFIG_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(io_error)?;
    if text.len() > defaults::MAX_CONFIG_BYTES {
        return Err(raw::too_large(format!(
            "a document of more than {} bytes",
            defaults::MAX_CONFIG_BYTES
        )));
    }
    Ok(text)
}

//! The web application firewall (`[waf.NAME]`): a listener's and a rule's rule sets,
//! evaluated in priority order before a request is forwarded. The first rule that allows
//! or blocks decides; a counting rule is logged and counted and evaluation goes on; a
//! request no rule decides meets the set's default action. Conditions are compiled once per
//! configuration (regular expressions by the `regex` crate: linear time, bounded size).

mod detect;
mod inspect;

use std::sync::Arc;

use ballast_config::{CidrSet, Oversize, Transform, WafAction, WafConfig, WafField, WafTest};
use ballast_telemetry::waf::WafMetrics;

pub(crate) use inspect::{Body, Inspected};

/// A compiled rule set with its counters.
#[derive(Debug)]
pub struct Waf {
    /// Its settings.
    pub config: Arc<WafConfig>,
    rules: Vec<Rule>,
    /// The answer to a blocked request.
    block: crate::snapshot::FixedReply,
    /// Matches per rule (`None` with metrics off).
    metrics: Option<Arc<WafMetrics>>,
}

#[derive(Debug)]
struct Rule {
    action: WafAction,
    conditions: Vec<Condition>,
}

#[derive(Debug)]
struct Condition {
    field: WafField,
    transforms: Vec<Transform>,
    test: Test,
    negate: bool,
}

#[derive(Debug)]
enum Test {
    Exact(Vec<u8>),
    Prefix(Vec<u8>),
    Suffix(Vec<u8>),
    /// `contains` and `regex`, both as a compiled pattern.
    Pattern(regex::bytes::Regex),
    Sqli,
    Xss,
    SizeOver(u64),
    SourceIp(CidrSet),
    /// A rate-based rule: the live limiter of the `[rate_limits]` entry it names.
    RateLimit(Arc<crate::RateLimiter>),
}

/// What a rule set made of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Screening {
    /// Blocked: answer with the set's block response.
    pub(crate) block: bool,
    /// The rule that decided (or the first that counted), for the access log.
    pub(crate) rule: Option<Arc<str>>,
    /// `allow`, `block` or `count` (what the logged rule did), or `default`.
    pub(crate) action: &'static str,
}

impl Waf {
    /// Compiles `config`, its rate-based rules counting in `limiters` (the snapshot's live
    /// ones); `None` when a pattern no longer compiles (validation compiled it already, so
    /// this does not happen).
    pub fn new(
        config: Arc<WafConfig>,
        metrics: Option<Arc<WafMetrics>>,
        limiters: &[Arc<crate::RateLimiter>],
    ) -> Option<Self> {
        let rules = config
            .rules
            .iter()
            .map(|r| {
                let conditions = r
                    .conditions
                    .iter()
                    .map(|c| {
                        Some(Condition {
                            field: c.field.clone(),
                            transforms: c.transforms.clone(),
                            test: compile(&c.test, limiters)?,
                            negate: c.negate,
                        })
                    })
                    .collect::<Option<Vec<_>>>()?;
                Some(Rule {
                    action: r.action,
                    conditions,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let r = &config.block_response;
        let block = crate::snapshot::FixedReply {
            status: http::StatusCode::from_u16(r.status).unwrap_or(http::StatusCode::FORBIDDEN),
            content_type: http::HeaderValue::from_str(&r.content_type)
                .unwrap_or(http::HeaderValue::from_static("text/plain")),
            body: bytes::Bytes::from(r.body.clone()),
        };
        Some(Self {
            config,
            rules,
            block,
            metrics,
        })
    }

    /// Whether a rule reads the request body (it is then read, up to the limit, first).
    pub fn reads_body(&self) -> bool {
        self.config.reads_body()
    }

    /// Evaluates the rules on a request.
    pub(crate) fn screen(&self, at: &Inspected<'_>) -> Screening {
        let mut counted: Option<Arc<str>> = None;
        for (i, rule) in self.rules.iter().enumerate() {
            if !rule.conditions.iter().all(|c| self.holds(c, at)) {
                continue;
            }
            if let Some(m) = &self.metrics {
                m.matched(i);
            }
            let name = Arc::clone(&self.config.rules[i].name);
            match rule.action {
                WafAction::Count => {
                    counted.get_or_insert(name);
                }
                WafAction::Allow => {
                    return Screening {
                        block: false,
                        rule: Some(name),
                        action: "allow",
                    }
                }
                WafAction::Block => {
                    return Screening {
                        block: true,
                        rule: Some(name),
                        action: "block",
                    }
                }
            }
        }
        let block = self.config.default_action == WafAction::Block;
        if let Some(m) = &self.metrics {
            m.defaulted(block);
        }
        match counted {
            Some(rule) if !block => Screening {
                block,
                rule: Some(rule),
                action: "count",
            },
            _ => Screening {
                block,
                rule: None,
                action: "default",
            },
        }
    }

    fn holds(&self, c: &Condition, at: &Inspected<'_>) -> bool {
        let limit = self.config.body_limit;
        // The body as this set sees it: its own limit, its own oversize handling.
        let (body, over) = match at.body {
            Body::None => (&[][..], false),
            Body::Read(bytes, whole) => (&bytes[..bytes.len().min(limit)], whole > limit as u64),
            Body::Uninspected => (&[][..], true),
        };
        let found = match &c.test {
            Test::SourceIp(set) => set.contains(at.client),
            Test::RateLimit(limiter) => limiter
                .check(at.req, at.peer, at.trusted, std::time::Instant::now)
                .is_err(),
            _ if c.field.reads_body() && over => match self.config.oversize {
                Oversize::Match => true,
                Oversize::NoMatch => false,
                Oversize::Continue => self.any(c, at, body),
            },
            _ => self.any(c, at, body),
        };
        found != c.negate
    }

    fn any(&self, c: &Condition, at: &Inspected<'_>, body: &[u8]) -> bool {
        inspect::any_value(&c.field, at, body, &mut |raw| {
            let value = inspect::transformed(raw, &c.transforms);
            test(&c.test, &value)
        })
    }
}

fn compile(test: &WafTest, limiters: &[Arc<crate::RateLimiter>]) -> Option<Test> {
    let pattern = |p: &str| {
        regex::bytes::RegexBuilder::new(p)
            .size_limit(ballast_config::defaults::MAX_WAF_REGEX_BYTES)
            .build()
            .ok()
            .map(Test::Pattern)
    };
    Some(match test {
        WafTest::Exact(s) => Test::Exact(s.as_bytes().to_vec()),
        WafTest::Prefix(s) => Test::Prefix(s.as_bytes().to_vec()),
        WafTest::Suffix(s) => Test::Suffix(s.as_bytes().to_vec()),
        WafTest::Contains(s) => pattern(&regex::escape(s))?,
        WafTest::Regex(s) => pattern(s)?,
        WafTest::Sqli => Test::Sqli,
        WafTest::Xss => Test::Xss,
        WafTest::SizeOver(n) => Test::SizeOver(*n),
        WafTest::SourceIp(set) => Test::SourceIp(set.clone()),
        WafTest::RateLimit(limit) => Test::RateLimit(
            crate::rate::limiter_named(limiters, &limit.name)
                .unwrap_or_else(|| Arc::new(crate::RateLimiter::new(Arc::clone(limit)))),
        ),
    })
}

fn test(test: &Test, value: &[u8]) -> bool {
    match test {
        Test::Exact(s) => value == s.as_slice(),
        Test::Prefix(s) => value.starts_with(s),
        Test::Suffix(s) => value.ends_with(s),
        Test::Pattern(re) => re.is_match(value),
        // An empty value is no attack: the detectors are not called for it.
        Test::Sqli => !value.is_empty() && detect::sqli(value),
        Test::Xss => !value.is_empty() && detect::xss(value),
        Test::SizeOver(n) => value.len() as u64 > *n,
        Test::SourceIp(_) | Test::RateLimit(_) => false,
    }
}

/// Screens a request on `routes` whose rule has `rule`'s set: the listener's set, then the
/// rule's (a set named by both is evaluated once; an `allow` of the listener's ends it).
/// `body`: what was read of the request body. `Some`: the block response
/// to answer (noted in the exchange). Costs nothing on a listener without a firewall.
pub(crate) fn screened(
    routes: &crate::snapshot::ListenerRoutes,
    rule: Option<&Waf>,
    (req, peer): (&dyn crate::head::RequestFacts, std::net::IpAddr),
    body: Body<'_>,
    exchange: &mut crate::exchange::Exchange,
) -> Option<crate::local::Local> {
    let listener = routes.waf.as_deref();
    if listener.is_none() && rule.is_none() {
        return None;
    }
    // The client as `source_ip` rules see it: the peer, or what trusted proxies say.
    let client = crate::route::client_ip(peer, &routes.trusted_proxies, req).unwrap_or(peer);
    let at = Inspected {
        req,
        client,
        peer,
        trusted: &routes.trusted_proxies,
        body,
    };
    let at = &at;
    let rule = rule.filter(|r| !listener.is_some_and(|l| std::ptr::eq(*r, l)));
    for waf in [listener, rule].into_iter().flatten() {
        let s = waf.screen(at);
        if s.rule.is_some() || s.block {
            exchange.waf = Some((s.rule.clone(), s.action));
        }
        if s.block {
            exchange.action = crate::exchange::ActionKind::WafBlocked;
            exchange.error_reason = Some("Client.WafBlocked");
            return Some(crate::local::Local::fixed(&waf.block));
        }
        if s.action == "allow" {
            return None;
        }
    }
    None
}

#[cfg(test)]
mod tests;

//! Every default value of the configuration, in one place, named.
//!
//! `docs/config.md` lists these; a test there keeps the two in step. The values follow what
//! users of cloud load balancers expect (AWS ALB) unless a comment says why not.

use std::time::Duration;

/// How long in-flight requests may run after SIGTERM before the process exits anyway.
pub const DEFAULT_DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Time a client has to send a complete request head, counted from the connection's first
/// byte of that request (or from accept). HAProxy's `timeout http-request` guidance.
pub const DEFAULT_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// A keep-alive client connection with no request in flight and no bytes moving is closed
/// after this long. ALB's idle timeout default.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Streams an HTTP/2 client may have open at once on one connection: RFC 9113 §6.5.2
/// recommends no fewer than 100; HAProxy's default is 100, NGINX's 128.
pub const DEFAULT_HTTP2_MAX_CONCURRENT_STREAMS: u32 = 128;

/// An L4 TCP connection with no byte moving either way is closed after this long (NLB's
/// TCP idle timeout).
pub const DEFAULT_L4_IDLE_TIMEOUT: Duration = Duration::from_secs(350);

/// A UDP flow with no datagram either way is forgotten after this long (NLB's).
pub const DEFAULT_UDP_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Time to receive a ClientHello (SNI rules, `tls` listeners) or a PROXY protocol header on
/// an L4 listener.
pub const DEFAULT_CLIENT_HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// UDP flows one worker of a listener remembers at once.
pub const DEFAULT_MAX_UDP_FLOWS: usize = 100_000;

/// An upgraded connection (WebSocket) with no byte moving in either direction is closed after
/// this long. ALB applies its idle timeout (60 s) to WebSocket connections the same way.
pub const DEFAULT_UPGRADE_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Largest request head (request line plus headers) accepted; larger gets 431. ALB: 64 KiB.
pub const DEFAULT_MAX_HEADER_BYTES: usize = 64 * 1024;

/// Most request header fields accepted; more gets 431.
pub const DEFAULT_MAX_HEADERS: usize = 100;

/// Smallest `max_header_bytes` we accept: the HTTP/1 parser needs room for a sane request line.
pub const MIN_MAX_HEADER_BYTES: usize = 8 * 1024;

/// Time allowed to open a TCP connection to a target before answering 504. ALB: 10 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a target has to start its response (status line and headers) before the client gets
/// 504. ALB ties this to its 60 s idle timeout.
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// Idle keep-alive connections to a target are closed after this long. Shorter than the
/// usual backend keep-alive (nginx 75 s, Node 5 s is the outlier) to avoid reusing a
/// connection the target is about to close.
pub const DEFAULT_TARGET_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

/// Most idle keep-alive connections kept per target and per worker thread.
pub const DEFAULT_MAX_IDLE_PER_TARGET: usize = 1024;

/// A deregistered target keeps its in-flight requests this long before they are cut. ALB: 300 s.
pub const DEFAULT_DEREGISTRATION_DELAY: Duration = Duration::from_secs(300);

/// Longest deregistration delay accepted. ALB: 3600 s.
pub const MAX_DEREGISTRATION_DELAY: Duration = Duration::from_secs(3600);

/// Shortest slow start accepted (other than 0, off). ALB: 30 s.
pub const MIN_SLOW_START: Duration = Duration::from_secs(30);

/// Longest slow start accepted. ALB: 900 s.
pub const MAX_SLOW_START: Duration = Duration::from_secs(900);

/// Largest target weight. HAProxy allows 256, ALB's forward weights 999.
pub const MAX_TARGET_WEIGHT: usize = 1000;

/// How long a client stays with its target after its last request. ALB: 1 day.
pub const DEFAULT_STICKINESS_DURATION: Duration = Duration::from_secs(86_400);

/// Longest stickiness. ALB: 7 days.
pub const MAX_STICKINESS_DURATION: Duration = Duration::from_secs(7 * 86_400);

/// Most rules on one listener. ALB: 100 by default, raisable.
pub const MAX_RULES: usize = 1000;

/// Most values in one condition kind of a rule (hosts, paths, methods, blocks, or the values
/// of one header or query condition).
pub const MAX_CONDITION_VALUES: usize = 10;

/// Most values in all the conditions of one rule.
pub const MAX_RULE_VALUES: usize = 20;

/// Largest fixed-response body, in bytes. ALB: 1024.
pub const MAX_FIXED_BODY: usize = 1024;

/// Most target groups in one weighted forward. ALB: 5.
pub const MAX_FORWARD_GROUPS: usize = 5;

/// Largest weight of a group in a weighted forward. ALB: 999.
pub const MAX_FORWARD_WEIGHT: usize = 999;

/// Name of the cookie of target group stickiness (ALB: `AWSALBTG`).
pub const DEFAULT_GROUP_STICKY_COOKIE: &str = "BALLASTTG";

/// Shortest `server.stickiness_secret` accepted: anything shorter could be guessed.
pub const MIN_SECRET_BYTES: usize = 32;

/// Name of the cookie of `lb_cookie` stickiness (ALB: `AWSALB`).
pub const DEFAULT_LB_COOKIE: &str = "BALLAST";

/// Name of the cookie of `app_cookie` stickiness (ALB: `AWSALBAPP`).
pub const DEFAULT_APP_STICKY_COOKIE: &str = "BALLASTAPP";

/// Time between two health checks of one target. ALB: 30 s.
pub const DEFAULT_HEALTH_INTERVAL: Duration = Duration::from_secs(30);

/// Time one health check may take. ALB: 5 s.
pub const DEFAULT_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Passing checks in a row that make a target healthy. ALB: 5.
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 5;

/// Failing checks in a row that make a target unhealthy. ALB: 2.
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 2;

/// Path of HTTP health checks. ALB: `/`.
pub const DEFAULT_HEALTH_PATH: &str = "/";

/// Status codes that pass an HTTP health check. ALB: `200`.
pub const DEFAULT_HEALTH_MATCHER: &str = "200";

/// Failures in a row on real traffic that eject a target. Envoy: 5.
pub const DEFAULT_CONSECUTIVE_FAILURES: u32 = 5;

/// First ejection time; the n-th ejection in a row lasts n times this. Envoy: 30 s.
pub const DEFAULT_BASE_EJECTION_TIME: Duration = Duration::from_secs(30);

/// Longest ejection. Envoy: 300 s.
pub const DEFAULT_MAX_EJECTION_TIME: Duration = Duration::from_secs(300);

/// Most targets of a group ejected at once, in percent. At least one target may always be
/// ejected. Envoy: 10 %; we allow more because groups here are often small.
pub const DEFAULT_MAX_EJECTION_PERCENT: u32 = 50;

/// Retries allowed as a share of recent requests, in percent (Linkerd's budget: 20 %).
pub const DEFAULT_RETRY_BUDGET_PERCENT: u32 = 20;

/// Retries always allowed per second, so a quiet group can still retry. Linkerd: 10.
pub const DEFAULT_RETRY_MIN_PER_SECOND: u32 = 10;

/// Where the admin API listens when `[admin]` gives no `bind`: loopback only, as Envoy's
/// admin interface is usually bound, so nothing is exposed by accident.
pub const DEFAULT_ADMIN_BIND: std::net::SocketAddr = std::net::SocketAddr::V4(
    std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 9901),
);

/// Time an admin client has to send a complete request head, as a data listener's
/// `request_header_timeout`: a client trickling a head is cut rather than holding a socket.
pub const DEFAULT_ADMIN_REQUEST_HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Admin connections open at once. Operators, scripts and a few dashboards need a handful;
/// the bound keeps a flood of idle connections from exhausting the admin thread's sockets.
pub const DEFAULT_ADMIN_MAX_CONNECTIONS: usize = 256;

/// Access log lines buffered between the workers and the writer thread (the queue is
/// allocated up front: about 3 MiB). A full queue drops lines (counted) rather than slowing
/// a request; the writer drains it every 5 ms, so this absorbs about 1.6 M lines/s.
pub const DEFAULT_ACCESS_LOG_QUEUE: usize = 8_192;

/// Where ACME accounts, certificates and keys are kept when `storage` is not given (the
/// FHS place for a service's state).
pub const DEFAULT_ACME_STORAGE: &str = "/var/lib/ballast/acme";

/// Where a scaling group keeps its hourly load history (`NAME.json`) when `history_file`
/// is not given, beside the ACME state.
pub const DEFAULT_SCALING_HISTORY_DIR: &str = "/var/lib/ballast/scaling";

/// An ACME certificate is renewed when it expires within this long: a third of Let's
/// Encrypt's 90 days, as certbot does, leaving weeks of retries if the CA is down.
pub const DEFAULT_ACME_RENEW_BEFORE: Duration = Duration::from_secs(30 * 86_400);

// === Limits on the size of a configuration ===
//
// A configuration comes from a file, the admin API or a reload: each limit below keeps a huge
// or malformed one from making parsing or validation slow, or its errors huge. Each is
// refused with the key path it concerns, before the work it bounds.

/// Largest configuration document read, in bytes, checked before it is parsed (a file is
/// not even read further). A thousand listeners with a thousand rules each fit in a few MiB.
pub const MAX_CONFIG_BYTES: usize = 16 * 1024 * 1024;

/// Most listeners in one configuration. ALB allows 50 per load balancer; every listener is
/// a socket per worker, so thousands would exhaust file descriptors long before this.
pub const MAX_LISTENERS: usize = 1000;

/// Bytes per second a request body must average after its grace (Apache's
/// `RequestReadTimeout` default `MinRate=500`): a slow POST holding a connection open with
/// a trickle is answered 408.
pub const DEFAULT_MIN_REQUEST_BODY_RATE: u32 = 500;

/// Time a request body is given before the minimum rate applies (Apache's `body=20`).
pub const DEFAULT_MIN_REQUEST_BODY_RATE_GRACE: Duration = Duration::from_secs(20);

/// Bytes of a request body a `[waf]` set inspects (AWS WAF's default for load balancers).
pub const DEFAULT_WAF_BODY_LIMIT: usize = 8192;

/// Most `[waf]` rule sets in a document.
pub const MAX_WAF_SETS: usize = 100;

/// Most rules in one `[waf]` set.
pub const MAX_WAF_RULES: usize = 1000;

/// Most conditions in one `[waf]` rule.
pub const MAX_WAF_CONDITIONS: usize = 10;

/// Longest pattern (`exact`, `prefix`, `suffix`, `contains`, `regex`) of a `[waf]` condition.
pub const MAX_WAF_PATTERN_BYTES: usize = 4096;

/// The compiled size a WAF regular expression may reach (the `regex` crate's own bound).
pub const MAX_WAF_REGEX_BYTES: usize = 1 << 20;

/// Most `[rate_limits]` entries in a document.
pub const MAX_RATE_LIMITS: usize = 100;

/// Most `[ip_sets]` entries in a document.
pub const MAX_IP_SETS: usize = 1000;

/// Most blocks in one IP set, or in one listener's `allow` or `deny` list once its sets are
/// expanded.
pub const MAX_IP_SET_BLOCKS: usize = 100_000;

/// Most target groups in one configuration. ALB: 3000 per region.
pub const MAX_TARGET_GROUPS: usize = 3000;

/// Longest listener or target group name, in bytes (names are also limited to
/// `a-z A-Z 0-9 - _`). Names become metric labels, log fields and cookie contents.
pub const MAX_NAME_BYTES: usize = 64;

/// Most static targets in one target group. ALB: 1000 per target group.
pub const MAX_TARGETS_PER_GROUP: usize = 1000;

/// Most certificates of one `https` listener. ALB: 25 by default, raisable to 100.
pub const MAX_CERTIFICATES: usize = 100;

/// Most domains in one ACME certificate. Let's Encrypt: 100 names per certificate.
pub const MAX_ACME_DOMAINS: usize = 100;

/// Longest part of a user's value, key or name an error message repeats, in bytes; the
/// rest is replaced by its length. A huge bad value (a 50 MB name) must not turn into a
/// 50 MB log line or API answer.
pub const MAX_ECHOED_VALUE: usize = 80;

/// Most existing names an "unknown target group" error lists; then it says how many exist.
pub const MAX_KNOWN_NAMES_LISTED: usize = 20;

/// Most errors one validation reports; one more line counts the rest. Enough to fix a file
/// in a few rounds, bounded so a generated file with a mistake in every entry does not
/// produce megabytes of errors.
pub const MAX_REPORTED_ERRORS: usize = 100;

/// Time a new instance's failed health checks are ignored (ASG's console default).
pub const DEFAULT_HEALTH_CHECK_GRACE_PERIOD: Duration = Duration::from_secs(300);

/// Cooldown of simple scaling policies that set none (ASG's `DefaultCooldown`).
pub const DEFAULT_SCALING_COOLDOWN: Duration = Duration::from_secs(300);

/// Time between SIGTERM and SIGKILL when a process instance is stopped.
pub const DEFAULT_PROCESS_STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a `command` provider's script may take.
pub const DEFAULT_PROVIDER_COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Length of one alarm period (CloudWatch's standard resolution).
pub const DEFAULT_ALARM_PERIOD: Duration = Duration::from_secs(60);

/// How early predictive scaling puts each hour's capacity in place (ASG's default).
pub const DEFAULT_SCHEDULING_BUFFER: Duration = Duration::from_secs(300);

/// Most policies per scaling group (ASG's limit).
pub const MAX_SCALING_POLICIES: usize = 50;

/// Most scheduled actions per scaling group (ASG's limit).
pub const MAX_SCHEDULED_ACTIONS: usize = 125;

/// Answers per second to one client network (a /24 of IPv4, a /56 of IPv6) before the DNS
/// server's response rate limiting drops or truncates: far above what resolvers ask of one
/// authoritative server, far below what makes it a useful reflector.
pub const DEFAULT_DNS_RESPONSES_PER_SECOND: u32 = 100;

/// TTL of DNS record sets that give none: a minute, so failover reaches clients quickly
/// (Route 53's alias records use 60 s).
pub const DEFAULT_DNS_TTL: Duration = Duration::from_secs(60);

/// SOA refresh, retry and expire (Route 53's defaults) and minimum (the TTL of negative
/// answers: a minute, where Route 53 uses a day, so a name added later resolves soon).
pub const DEFAULT_DNS_SOA_REFRESH: Duration = Duration::from_secs(7_200);
/// SOA retry.
pub const DEFAULT_DNS_SOA_RETRY: Duration = Duration::from_secs(900);
/// SOA expire.
pub const DEFAULT_DNS_SOA_EXPIRE: Duration = Duration::from_secs(1_209_600);
/// SOA minimum: the negative-answer TTL.
pub const DEFAULT_DNS_SOA_MINIMUM: Duration = Duration::from_secs(60);

/// Time between two checks of a DNS health check (Route 53's standard interval).
pub const DEFAULT_DNS_CHECK_INTERVAL: Duration = Duration::from_secs(30);
/// Time one DNS health check may take.
pub const DEFAULT_DNS_CHECK_TIMEOUT: Duration = Duration::from_secs(5);
/// Checks in a row that turn a DNS health check healthy or unhealthy (Route 53's default).
pub const DEFAULT_DNS_FAILURE_THRESHOLD: u32 = 3;

/// Most zones, record sets per zone and members per record set: bounds on what one file
/// may make the server hold.
pub const MAX_DNS_ZONES: usize = 1_000;
/// Most record sets in one zone.
pub const MAX_DNS_RECORD_SETS: usize = 10_000;
/// Most members of one record set.
pub const MAX_DNS_MEMBERS: usize = 100;

/// The etcd key prefix of a cluster's keys.
pub const DEFAULT_CLUSTER_PREFIX: &str = "/ballast/";
/// Time-to-live of a node's membership lease in etcd.
pub const DEFAULT_CLUSTER_LEASE_TTL: Duration = Duration::from_secs(10);
/// Time one etcd request may take.
pub const DEFAULT_CLUSTER_TIMEOUT: Duration = Duration::from_secs(5);

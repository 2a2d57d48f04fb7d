//! Ballast's authoritative DNS server: the zones of `[dns]`, answered on UDP and TCP, with
//! each record set's routing policy choosing among the members whose health checks pass, as
//! a cloud's health-checked DNS does (Route 53's simple, weighted, failover and multivalue
//! routing).
//!
//! - [`snapshot`]: the zones as served, built from the configuration and the health states.
//! - [`health`]: whether a member is healthy, read from `TargetState` atomics.
//! - [`select`]: which members a routing policy answers (pure).
//! - [`answer`]: a response to a query (pure but for the health it reads).
//! - [`rrl`]: response rate limiting per client network (pure, time passed in).
//! - [`server`]: the UDP and TCP sockets; [`stats`]: what they count.
//!
//! Wire format and record types are the hickory crates'.

pub mod answer;
pub mod health;
pub mod rrl;
pub mod select;
pub mod server;
pub mod snapshot;
pub mod stats;

pub use snapshot::DnsSnapshot;

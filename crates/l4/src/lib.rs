//! The L4 data plane: TCP, UDP and TLS listeners, PROXY protocol, TLS passthrough by SNI.
//!
//! Data plane, layer 2, below `http` (which builds on it). It reads only the
//! [`snapshot::L4Snapshot`] it is handed and the `TargetState` atomics of `ballast-balance`; it must
//! not import `health`, `scale`, `runtime` or `admin`.
//!
//! Inside, modules only import downwards: the pure parsers and tables (`proxy_protocol`,
//! `client_hello`, `flow_table`) and the small shared pieces (`signal`, `limits`) at the
//! bottom; then `snapshot`; then the I/O (`relay`, `connect`, `prelude`, `tcp`, `udp`).

pub mod admission;
pub mod client_hello;
pub mod connect;
pub mod cuts;
pub mod defer_accept;
pub mod flow_table;
mod forward;
mod idle_check;
pub mod lazy_tcp;
pub mod limits;
pub mod log;
pub mod open_tcp;
pub mod prelude;
pub mod proxy_protocol;
pub mod relay;
pub mod signal;
pub mod snapshot;
pub mod splice;
pub mod stream;
pub mod sys_io;
pub mod task;
pub mod tcp;
pub mod udp;

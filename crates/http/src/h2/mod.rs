//! HTTP/2 clients (h2 by ALPN on `https` listeners, h2c with prior knowledge on `http`
//! ones): hyper's HTTP/2 server, with Ballast's decision and attempt phases behind each
//! stream and HTTP/1.1 to the targets. Adds what hyper leaves to its user: an idle timer
//! that also closes clients that ignore GOAWAY, a bound on responses no one reads, and the
//! end of PING and SETTINGS floods.

mod body;
mod conn;
mod connect;
mod grpc;
mod guard;
mod request;
mod response;
mod server;
mod to_h2;
mod watch;

pub(crate) use server::serve_h2;

//! Several Ballast nodes, active-active, coordinated through etcd (its v3 API): the shared
//! configuration document, kept in one key and applied by every node through the runtime's
//! reload path as soon as a watch sees it change; and node membership, a key per node held
//! by a lease.
//!
//! Control plane: it drives the runtime through its handle and never touches a socket of
//! the data plane.

pub mod etcd;

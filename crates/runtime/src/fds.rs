//! The process's file-descriptor limit, and the share of it the data plane may use.
//!
//! At start the soft limit is raised to the hard one (as HAProxy does), so a default of
//! 1,024 does not cap a busy proxy. The data plane gets all but a reserve (see
//! `ballast_http::FdBudget`), which keeps the admin API, health checks and logs working when
//! clients take every socket the data plane may have.

use std::sync::Arc;

use ballast_http::FdBudget;
use rustix::process::{getrlimit, setrlimit, Resource};

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and returns the data plane's budget.
pub(crate) fn data_plane_budget() -> Arc<FdBudget> {
    let mut limit = getrlimit(Resource::Nofile);
    if let (Some(current), Some(maximum)) = (limit.current, limit.maximum) {
        if current < maximum {
            let raised = rustix::process::Rlimit {
                current: Some(maximum),
                maximum: Some(maximum),
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => limit.current = Some(maximum),
                Err(error) => {
                    tracing::debug!(%error, current, maximum, "cannot raise the file descriptor limit")
                }
            }
        }
    }
    match limit.current {
        Some(current) => {
            let budget = FdBudget::for_process_limit(current);
            tracing::debug!(
                limit = current,
                data_plane = budget.limit(),
                "file descriptors"
            );
            budget
        }
        None => FdBudget::unlimited(),
    }
}

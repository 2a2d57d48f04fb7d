//! The attempt phase: which target each try goes to, whether a failed try may go to another
//! target, and what the targets' live state learns from each try. The sending itself is the
//! caller's (HTTP/1 or HTTP/2 client side); this keeps the rules in one place.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ballast_balance::{Algorithm, InFlight};

use crate::decide::{pick, Forwarding};
use crate::fault::{Fault, Retry};
use crate::snapshot::{Target, TargetGroup};

/// The tries of one forwarded request.
#[derive(Debug)]
pub(crate) struct Attempts<'f> {
    forward: &'f Forwarding,
    /// The request may be sent again whole after its target failed (idempotent, no body,
    /// group allows it, another target exists).
    replayable: bool,
    tries: u32,
    exclude: Option<usize>,
    failed: Option<(Fault, Arc<Target>, Retry)>,
}

/// A try under way on one target: counted in flight until dropped.
#[derive(Debug)]
pub(crate) struct Try {
    pub(crate) index: usize,
    pub(crate) target: Arc<Target>,
    pub(crate) started: Instant,
    pub(crate) in_flight: InFlight,
}

impl<'f> Attempts<'f> {
    /// The tries of a request decided as `forward`; `idempotent_bodiless`: the request could
    /// be sent again as it is.
    pub(crate) fn new(forward: &'f Forwarding, idempotent_bodiless: bool) -> Self {
        let group = &forward.group;
        Self {
            forward,
            replayable: idempotent_bodiless && group.retry.idempotent && group.targets.len() > 1,
            tries: 0,
            exclude: None,
            failed: None,
        }
    }

    fn group(&self) -> &TargetGroup {
        &self.forward.group
    }

    /// Whether no try was made yet.
    pub(crate) fn is_first(&self) -> bool {
        self.tries == 0
    }

    /// The target of the next try, or the fault to answer with when there is none (no
    /// target may take traffic, the retry budget is spent, or the one retry went nowhere).
    pub(crate) fn next(
        &mut self,
        now: Instant,
        random: u64,
    ) -> Result<Try, (Fault, Option<Arc<Target>>)> {
        let forward = self.forward;
        let group = &forward.group;
        let picked = if self.tries == 0 {
            self.forward.target
        } else {
            pick(group, forward.key, self.exclude, now, random)
        };
        // The budget is spent only once there is another target to retry on.
        let denied = self.failed.as_ref().is_some_and(|(_, _, cost)| {
            *cost == Retry::Budgeted && picked.is_some() && !group.retry_budget.try_withdraw(now)
        });
        let Some(index) = picked.filter(|_| !denied) else {
            return Err(match self.failed.take() {
                // A retry with nowhere else to go reports what made it retry.
                Some((fault, target, _)) => (fault, Some(target)),
                None => (no_target(group), None),
            });
        };
        let target = Arc::clone(&group.targets[index]);
        if let Some((fault, from, _)) = &self.failed {
            tracing::debug!(target_group = &*group.name.0, from = %from.address, target = %target.address, reason = fault.reason(), "retrying on another target");
            if let Some(m) = &group.metrics {
                m.retries.inc();
            }
        } else {
            group.retry_budget.deposit();
        }
        self.tries += 1;
        if let Some(m) = &target.metrics {
            m.requests.inc();
        }
        let in_flight = target.state.begin_request();
        Ok(Try {
            index,
            target,
            started: now,
            in_flight,
        })
    }

    /// A try failed with `fault`: records it against the target, and returns the fault to
    /// answer with, or `None` when one other target may be tried. `unsent`: the request is
    /// still whole (nothing of it was taken from the client or written to a target);
    /// `upload_finished`: the client had sent its whole body; `silent`: no byte of an answer
    /// came back.
    pub(crate) fn failed(
        &mut self,
        tried: Try,
        fault: Fault,
        unsent: bool,
        upload_finished: bool,
        silent: bool,
    ) -> Option<(Fault, Arc<Target>)> {
        let Try {
            index,
            target,
            started,
            in_flight,
        } = tried;
        drop(in_flight);
        if let Some(m) = &target.metrics {
            m.errors.inc();
        }
        if self.group().balancer.algorithm() == Algorithm::LeastResponseTime {
            // A failure counts as an answer of at least a second: a target that refuses or
            // times out must not look fast to least_response_time.
            let failed_at = Instant::now();
            let took = (failed_at - started).max(Duration::from_secs(1));
            target.state.record_latency(took, failed_at);
        }
        if fault.counts_against_target(upload_finished) {
            target.state.record_outcome(false);
        }
        let retry = if self.exclude.is_none() {
            fault.retry(unsent, self.replayable, silent)
        } else {
            None
        };
        match retry {
            Some(cost) => {
                self.exclude = Some(index);
                self.failed = Some((fault, target, cost));
                None
            }
            None => Some((fault, target)),
        }
    }
}

/// A target answered with `status`: passive health, least response time and metrics learn
/// of it. Returns when the answer came, if the clock was read (only when something uses it:
/// a clock read is not free on every machine).
pub(crate) fn answered(
    group: &TargetGroup,
    tried: &Try,
    status: u16,
    logging: bool,
) -> Option<Instant> {
    let target = &tried.target;
    target.state.record_outcome(status < 500);
    let lrt = group.balancer.algorithm() == Algorithm::LeastResponseTime;
    let timed = lrt || target.metrics.is_some() || logging;
    let at = timed.then(Instant::now)?;
    let took = at - tried.started;
    if lrt {
        target.state.record_latency(took, at);
    }
    if let Some(m) = &target.metrics {
        m.record_response(status, took);
    }
    if let Some(m) = &group.metrics {
        m.response_time.observe(took);
    }
    Some(at)
}

/// A target answered `status`: what [`answered`] learns, the group's response counter, and
/// the request's record (its status and when the answer came).
pub(crate) fn record_answer(
    group: &TargetGroup,
    tried: &Try,
    status: u16,
    exchange: &mut crate::exchange::Exchange,
) {
    let at = answered(group, tried, status, exchange.logging());
    if let Some(m) = &group.metrics {
        m.responses.record(status);
    }
    exchange.answered(status, Some(at.unwrap_or(tried.started)));
}

/// Why a group had nothing to pick: no target at all, or none that may take traffic.
/// Only on the failure path, so the scan costs nothing per successful request.
pub(crate) fn no_target(group: &TargetGroup) -> Fault {
    if group.targets.iter().any(|t| t.state.is_registered()) {
        Fault::NoHealthyTarget
    } else {
        Fault::NoTarget
    }
}

#[cfg(test)]
mod tests;

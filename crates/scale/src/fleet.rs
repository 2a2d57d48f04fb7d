//! A scaling group's instances and what to do about them: launch up to the desired
//! capacity, terminate down to it (zones balanced first, then the termination policy), and
//! replace instances that exited or failed their health checks after the grace period. Pure:
//! the runtime tells it what happened (launched, health, exited) and carries out its steps.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ballast_config::TerminationPolicy;

use crate::provider::Launched;
use crate::suspend::Suspended;

/// Where an instance stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InstanceState {
    /// Asked of the provider, not launched yet.
    Launching,
    /// Launched and registered as a target: in service once its health checks pass.
    Registered,
    /// Deregistered and draining, terminated when its delay ends.
    Terminating,
}

/// One instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Instance {
    /// Its name (`GROUP-N`), given at launch.
    pub name: String,
    /// Its provider's id, once launched.
    pub id: Option<String>,
    /// Its target address, once launched.
    pub address: Option<SocketAddr>,
    /// The zone it was launched in.
    pub zone: Option<String>,
    /// When it was asked for.
    pub launched_at: Instant,
    /// When it was registered as a target.
    pub registered_at: Option<Instant>,
    /// Where it stands.
    pub state: InstanceState,
    /// Whether it passed its health checks at the last look.
    pub healthy: bool,
    /// Scale-in protection: a scale-in never picks it.
    pub protected: bool,
    /// Launched by a provider the group no longer uses (a reload changed it): replaced
    /// one at a time.
    pub outdated: bool,
}

/// What the runtime must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Launch an instance with this name in this zone.
    Launch {
        /// Its name.
        name: String,
        /// Its zone.
        zone: Option<String>,
    },
    /// Deregister this instance (its target drains), then terminate it. `why` for the
    /// activity history.
    Retire {
        /// Its provider id.
        id: String,
        /// Its target address.
        address: SocketAddr,
        /// Why: scale-in, unhealthy, exited.
        why: &'static str,
    },
}

/// The instances of one group.
#[derive(Debug, Clone)]
pub struct Fleet {
    prefix: String,
    next: u64,
    zones: Vec<String>,
    /// The instance launched to balance the zones, until it is in service (or gone): one
    /// of the fullest zone is retired only then.
    rebalancing: Option<String>,
    /// The instances, in launch order.
    pub instances: Vec<Instance>,
}

impl Fleet {
    /// An empty fleet naming instances `PREFIX-N` and spreading them over `zones`.
    pub fn new(prefix: &str, zones: &[String]) -> Self {
        Self {
            prefix: prefix.to_owned(),
            next: 1,
            zones: zones.to_vec(),
            rebalancing: None,
            instances: Vec::new(),
        }
    }

    /// The instance launched to balance the zones, while it is not in service yet.
    pub fn rebalancing(&self) -> Option<&str> {
        self.rebalancing.as_deref()
    }

    /// Every instance now running came from a provider the group no longer uses: each is
    /// replaced, a launch first and its retirement once the new one is in service, one at a
    /// time (as ASG's instance refresh keeping all capacity in service).
    pub fn mark_outdated(&mut self) {
        for i in &mut self.instances {
            i.outdated = true;
        }
    }

    /// The instances were registered anew at `now` (in another target group): their health
    /// checks start over, so their grace period does too.
    pub fn registered_again(&mut self, now: Instant) {
        for i in &mut self.instances {
            if i.state == InstanceState::Registered {
                i.registered_at = Some(now);
                i.healthy = false;
            }
        }
    }

    /// The zones to spread over, after a reload changed them: instances in a zone no longer
    /// listed are moved by the rebalancing.
    pub fn set_zones(&mut self, zones: &[String]) {
        self.zones = zones.to_vec();
    }

    /// Instances counted toward the capacity: launching or registered.
    pub fn active(&self) -> impl Iterator<Item = &Instance> {
        self.instances
            .iter()
            .filter(|i| i.state != InstanceState::Terminating)
    }

    /// Instances not ready to be measured: launching, not healthy yet, or within `warmup`
    /// of their registration.
    pub fn warming(&self, now: Instant, warmup: Duration) -> u32 {
        self.active()
            .filter(|i| !i.healthy || i.registered_at.is_none_or(|at| now < at + warmup))
            .count() as u32
    }

    /// The steps that bring the fleet to `desired`: retire instances that exited (gone from
    /// the provider) or stay unhealthy beyond `grace` after registration, then launch or
    /// scale in. Each step is already reflected in the fleet when it is returned.
    pub fn plan(
        &mut self,
        now: Instant,
        desired: u32,
        grace: Duration,
        policy: &[TerminationPolicy],
        suspended: &Suspended,
    ) -> Vec<Step> {
        let mut steps = Vec::new();
        for i in &mut self.instances {
            let failing = !suspended.replace_unhealthy
                && i.state == InstanceState::Registered
                && !i.healthy
                && i.registered_at.is_some_and(|at| now >= at + grace);
            if failing {
                if let (Some(id), Some(address)) = (i.id.clone(), i.address) {
                    i.state = InstanceState::Terminating;
                    steps.push(Step::Retire {
                        id,
                        address,
                        why: "unhealthy after its grace period",
                    });
                }
            }
        }
        // The instance launched to balance the zones counts toward the capacity only once
        // in service: until then it is one more, and nothing is retired in its place.
        let balancing = self.rebalancing.as_ref().and_then(|name| {
            let i = self.instances.iter().find(|i| i.name == *name)?;
            (i.state != InstanceState::Terminating && !i.healthy).then_some(1u32)
        });
        // Once it is in service, the next retirement is the other half of the move.
        let mut moved = balancing.is_none() && self.rebalancing.take().is_some();
        let active = self.active().count() as u32 - balancing.unwrap_or(0);
        let launches = if suspended.launch {
            0
        } else {
            desired.saturating_sub(active)
        };
        for _ in 0..launches {
            steps.push(self.launch(now));
        }
        let retirements = if suspended.terminate {
            0
        } else {
            active.saturating_sub(desired)
        };
        if launches == 0 && retirements == 0 && balancing.is_none() && self.needs_move(suspended) {
            let step = self.launch(now);
            if let Step::Launch { name, .. } = &step {
                self.rebalancing = Some(name.clone());
            }
            steps.push(step);
        }
        for _ in 0..retirements {
            let Some(victim) = self.pick_victim(policy) else {
                break;
            };
            let i = &mut self.instances[victim];
            i.state = InstanceState::Terminating;
            if let (Some(id), Some(address)) = (i.id.clone(), i.address) {
                let why = match (std::mem::take(&mut moved), i.outdated) {
                    (true, true) => "replaced: provider changed",
                    (true, false) => "zone rebalance",
                    (false, _) => "scale-in",
                };
                steps.push(Step::Retire { id, address, why });
            }
        }
        steps
    }

    /// A new instance in the emptiest zone, as launching.
    fn launch(&mut self, now: Instant) -> Step {
        let zone = self.emptiest_zone();
        let name = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        self.instances.push(Instance {
            name: name.clone(),
            id: None,
            address: None,
            zone: zone.clone(),
            launched_at: now,
            registered_at: None,
            state: InstanceState::Launching,
            healthy: false,
            protected: false,
            outdated: false,
        });
        Step::Launch { name, zone }
    }

    /// Whether an instance must move, when every active one is in service: one is outdated,
    /// or the zones need balancing, as ASG's `AZRebalance` (a zone has two more than
    /// another, or an instance is in a zone no longer listed; off by one is as even as it
    /// gets).
    fn needs_move(&self, suspended: &Suspended) -> bool {
        if suspended.launch || suspended.terminate || self.active().any(|i| !i.healthy) {
            return false;
        }
        let movable = |i: &Instance| i.state == InstanceState::Registered && !i.protected;
        if self.active().any(|i| movable(i) && i.outdated) {
            return true;
        }
        if suspended.zone_rebalance || self.zones.is_empty() {
            return false;
        }
        let in_zone = |z: &Option<String>| self.active().filter(|i| i.zone == *z).count();
        let counts: Vec<usize> = self
            .zones
            .iter()
            .map(|z| in_zone(&Some(z.clone())))
            .collect();
        let (most, least) = (
            counts.iter().max().copied().unwrap_or(0),
            counts.iter().min().copied().unwrap_or(0),
        );
        // Only when an instance the scale-in may take would fix it: protected instances in
        // the fullest zone would make it launch and retire elsewhere for ever.
        self.active().any(|i| {
            movable(i) && (!self.listed(&i.zone) || (most >= least + 2 && in_zone(&i.zone) == most))
        })
    }

    /// Whether `zone` is one of the listed zones; an instance of unknown zone (a provider
    /// that reports none) is left where it is.
    fn listed(&self, zone: &Option<String>) -> bool {
        zone.as_ref().is_none_or(|z| self.zones.contains(z))
    }

    /// The provider launched `name`.
    pub fn launched(&mut self, name: &str, launched: &Launched, now: Instant) {
        if let Some(i) = self.instances.iter_mut().find(|i| i.name == name) {
            i.id = Some(launched.id.clone());
            i.address = Some(launched.address);
            if launched.zone.is_some() {
                i.zone.clone_from(&launched.zone);
            }
            i.registered_at = Some(now);
            if i.state == InstanceState::Launching {
                i.state = InstanceState::Registered;
            }
        }
    }

    /// Takes over an instance the provider reports as running (found after a restart), so
    /// none is launched in its place. Named `PREFIX-N` like the others.
    pub fn adopt(&mut self, found: &Launched, now: Instant) {
        if self
            .instances
            .iter()
            .any(|i| i.id.as_deref() == Some(found.id.as_str()))
        {
            return;
        }
        let name = format!("{}-{}", self.prefix, self.next);
        self.next += 1;
        self.instances.push(Instance {
            name,
            id: Some(found.id.clone()),
            address: Some(found.address),
            zone: found.zone.clone(),
            launched_at: now,
            registered_at: Some(now),
            state: InstanceState::Registered,
            healthy: false,
            protected: false,
            outdated: false,
        });
    }

    /// The launch of `name` failed: it is forgotten (the next plan asks again).
    pub fn launch_failed(&mut self, name: &str) {
        self.instances.retain(|i| i.name != name);
    }

    /// Instance `id` is terminated (or exited on its own): forgotten. Returns its address
    /// when it was still registered (then it must be deregistered).
    pub fn gone(&mut self, id: &str) -> Option<SocketAddr> {
        let at = self
            .instances
            .iter()
            .position(|i| i.id.as_deref() == Some(id))?;
        let i = self.instances.remove(at);
        (i.state == InstanceState::Registered)
            .then_some(i.address)
            .flatten()
    }

    /// Sets the scale-in protection of instance `name`; false when there is none by that name.
    pub fn protect(&mut self, name: &str, protected: bool) -> bool {
        let found = self.instances.iter_mut().find(|i| i.name == name);
        found.map(|i| i.protected = protected).is_some()
    }

    /// Records the health the runtime sees for each registered instance.
    pub fn set_health(&mut self, healthy: impl Fn(SocketAddr) -> bool) {
        for i in &mut self.instances {
            if let Some(address) = i.address {
                i.healthy = healthy(address);
            }
        }
    }

    /// The zone with the fewest active instances (the first listed on a tie).
    fn emptiest_zone(&self) -> Option<String> {
        self.zones
            .iter()
            .min_by_key(|z| {
                self.active()
                    .filter(|i| i.zone.as_ref() == Some(*z))
                    .count()
            })
            .cloned()
    }

    /// The instance a scale-in takes: one still launching never (it has nothing to stop
    /// yet); protected ones never; then an outdated one; then one in a zone no longer
    /// listed; then from the zone
    /// with the most instances, by the termination policy (`default` and `oldest_*`: the
    /// oldest; `newest_instance`: the newest). Instances that failed their checks go before
    /// healthy ones.
    fn pick_victim(&self, policy: &[TerminationPolicy]) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.instances.len())
            .filter(|&n| {
                let i = &self.instances[n];
                i.state == InstanceState::Registered && !i.protected
            })
            .collect();
        let per_zone = |zone: &Option<String>| self.active().filter(|i| i.zone == *zone).count();
        let newest = policy.first() == Some(&TerminationPolicy::NewestInstance);
        candidates.into_iter().max_by(|&a, &b| {
            let (x, y) = (&self.instances[a], &self.instances[b]);
            let listed = |zone: &Option<String>| self.zones.is_empty() || self.listed(zone);
            x.outdated
                .cmp(&y.outdated)
                .then((!listed(&x.zone)).cmp(&!listed(&y.zone)))
                .then(per_zone(&x.zone).cmp(&per_zone(&y.zone)))
                .then((!x.healthy).cmp(&!y.healthy))
                // Launch order breaks ties of time: older is earlier in the list.
                .then(if newest {
                    (x.launched_at, a).cmp(&(y.launched_at, b))
                } else {
                    (y.launched_at, b).cmp(&(x.launched_at, a))
                })
        })
    }
}

#[cfg(test)]
mod tests;

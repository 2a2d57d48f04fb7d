//! The algorithms: which candidate one pick chooses. Each reads atomics only, allocates
//! nothing, and scans the group a few times at most.

use crate::candidates::Candidates;
use crate::{Algorithm, Balancer, PickInput, TargetState};

/// How many alternative slots a hashing pick tries before giving up on consistency.
const HASH_PROBES: u32 = 64;

/// The golden ratio's fractional part: stepping by it visits a cycle evenly spread out.
const GOLDEN: f64 = 0.618_033_988_749_894_9;

pub(crate) fn pick<T>(
    b: &Balancer,
    c: &Candidates,
    targets: &[T],
    state: &impl Fn(&T) -> &TargetState,
    input: &PickInput,
) -> Option<usize> {
    let ctx = Ctx {
        b,
        c,
        targets,
        state,
        input,
    };
    match b.algorithm {
        Algorithm::RoundRobin if c.uniform(b) => ctx.nth(b.position.pick(c.count)?),
        Algorithm::RoundRobin => ctx.smooth(b.position.next()),
        Algorithm::WeightedRandom => ctx.weighted_at(input.random),
        Algorithm::LeastOutstandingRequests => ctx.least(|s| s.in_flight()),
        Algorithm::LeastConnections => ctx.least(|s| s.connections()),
        Algorithm::RandomTwoChoices => {
            ctx.two_choices(|s, weight| (s.in_flight() + 1) as f64 / weight as f64)
        }
        Algorithm::LeastResponseTime => ctx.least_time(),
        Algorithm::IpHash | Algorithm::ConsistentHash | Algorithm::FlowHash => ctx.hashed(),
    }
}

struct Ctx<'a, T, S> {
    b: &'a Balancer,
    c: &'a Candidates,
    targets: &'a [T],
    state: &'a S,
    input: &'a PickInput,
}

impl<T, S: Fn(&T) -> &TargetState> Ctx<'_, T, S> {
    fn admitted(&self) -> impl Iterator<Item = (usize, &TargetState)> + '_ {
        // When every target is a candidate (the usual case), skip re-reading their health.
        let all = self.c.admits_all(self.targets.len());
        self.targets
            .iter()
            .enumerate()
            .map(|(i, t)| (i, (self.state)(t)))
            .filter(move |(i, s)| all || self.c.admits(self.b, *i, s, self.input))
    }

    fn first(&self) -> Option<usize> {
        self.admitted().next().map(|(i, _)| i)
    }

    /// The k-th candidate. The atomics are read again here: a target that changed since
    /// the candidates were counted must not turn a pick into "nothing to send to".
    fn nth(&self, k: usize) -> Option<usize> {
        if self.c.count == self.targets.len() && self.c.admits_all(self.targets.len()) {
            return Some(k);
        }
        self.admitted()
            .nth(k)
            .map(|(i, _)| i)
            .or_else(|| self.first())
    }

    fn total_weight(&self) -> u64 {
        if let Some(total) = self.c.plain_total(self.b) {
            return total;
        }
        self.admitted()
            .map(|(i, s)| self.c.weight(self.b, i, s, self.input))
            .sum()
    }

    /// The candidate owning point `point` of the weights laid end to end.
    fn at_point(&self, point: u64) -> Option<usize> {
        let mut acc = 0u64;
        for (i, s) in self.admitted() {
            acc += self.c.weight(self.b, i, s, self.input);
            if point < acc {
                return Some(i);
            }
        }
        self.first()
    }

    /// Weighted, at a uniformly random point.
    fn weighted_at(&self, random: u64) -> Option<usize> {
        let total = self.total_weight().max(1);
        self.at_point(random % total)
    }

    /// Smooth weighted round robin: request `n` takes point `n × step mod total`, with a
    /// step coprime to the total near its golden section. Over `total` requests every point
    /// is taken once (weights are exact), and consecutive requests land far apart, so
    /// weights 5, 1, 1 give `a a a b a c a` rather than five `a` in a row.
    fn smooth(&self, n: usize) -> Option<usize> {
        let total = self.total_weight().max(1);
        let step = coprime_step(total);
        let point = ((n as u128 % u128::from(total)) * u128::from(step) % u128::from(total)) as u64;
        self.at_point(point)
    }

    /// The candidate with the least `load` per weight; ties are broken uniformly at random
    /// (reservoir sampling), so equal targets share the traffic evenly even when they sit
    /// behind a run of unhealthy ones.
    ///
    /// Under slow start, loads alone cannot ramp a target: while requests are few every load
    /// is zero, and under heavy load a newcomer with fewer requests would win every pick. So
    /// the pick first chooses, by their ramped weights, between the targets in slow start and
    /// the others, then takes the least loaded of that side: the newcomers together get
    /// exactly their ramped share, whatever the load.
    fn least(&self, load: impl Fn(&TargetState) -> u64) -> Option<usize> {
        let side = self.c.ramping().then(|| self.ramping_side());
        let mut best: Option<(usize, u64, u64)> = None;
        let mut ties = 0u64;
        let mut rng = self.input.random | 1;
        for (i, s) in self.admitted() {
            if side.is_some_and(|ramping| self.in_slow_start(s) != ramping) {
                continue;
            }
            // Loads and weights are far below 2^32: their products fit in a u64.
            let (l, w) = (
                load(s).saturating_add(1),
                u64::from(self.b.weights.get(i).copied().unwrap_or(1)),
            );
            // Compare l / w with best_l / best_w without dividing.
            let Some((_, bl, bw)) = best else {
                (best, ties) = (Some((i, l, w)), 1);
                continue;
            };
            let (this, that) = (l.saturating_mul(bw), bl.saturating_mul(w));
            if this < that {
                (best, ties) = (Some((i, l, w)), 1);
            } else if this == that {
                // Keep the n-th tie with probability 1/n: xorshift, then multiply-shift
                // instead of a division.
                ties += 1;
                rng ^= rng << 13;
                rng ^= rng >> 7;
                rng ^= rng << 17;
                if (u128::from(rng) * u128::from(ties)) >> 64 == 0 {
                    best = Some((i, l, w));
                }
            }
        }
        best.map(|(i, _, _)| i).or_else(|| self.first())
    }

    fn in_slow_start(&self, s: &TargetState) -> bool {
        s.slow_start_factor(self.input.now, self.b.options.slow_start) < 1.0
    }

    /// Whether this pick goes to the targets in slow start (by their share of the ramped
    /// weights) or to the others.
    fn ramping_side(&self) -> bool {
        let (mut ramping, mut total) = (0u64, 0u64);
        for (i, s) in self.admitted() {
            let weight = self.c.weight(self.b, i, s, self.input);
            total += weight;
            if self.in_slow_start(s) {
                ramping += weight;
            }
        }
        (mix(self.input.random) % total.max(1)) < ramping
    }

    /// Power of two choices: two different random candidates, the cheaper wins.
    fn two_choices(&self, cost: impl Fn(&TargetState, u64) -> f64) -> Option<usize> {
        let Some((ia, ib)) = self.two_candidates() else {
            return self.nth(0);
        };
        let cost_of = |i: usize| {
            let s = (self.state)(&self.targets[i]);
            cost(s, self.c.weight(self.b, i, s, self.input))
        };
        Some(if cost_of(ib) < cost_of(ia) { ib } else { ia })
    }

    /// Least response time: power of two choices over latency estimate × (requests in
    /// flight + 1) per weight. A target with no estimate yet (new, or idle for long) is given
    /// the other choice's, so it is neither flooded nor starved: load decides until its
    /// first answers are in.
    fn least_time(&self) -> Option<usize> {
        let Some((a, b)) = self.two_candidates() else {
            return self.nth(0);
        };
        let estimate = |i: usize| {
            let s = (self.state)(&self.targets[i]);
            (s.latency_estimate(self.input.now), s)
        };
        let ((la, sa), (lb, sb)) = (estimate(a), estimate(b));
        let (la, lb) = match (la > 0.0, lb > 0.0) {
            (true, true) => (la, lb),
            (true, false) => (la, la),
            (false, true) => (lb, lb),
            (false, false) => (1.0, 1.0),
        };
        let cost = |latency: f64, i: usize, s: &TargetState| {
            latency * (s.in_flight() + 1) as f64 / self.c.weight(self.b, i, s, self.input) as f64
        };
        Some(if cost(lb, b, sb) < cost(la, a, sa) {
            b
        } else {
            a
        })
    }

    /// Two different random candidates (their indices), or `None` when there is one.
    fn two_candidates(&self) -> Option<(usize, usize)> {
        let count = self.c.count as u64;
        if count < 2 {
            return None;
        }
        let a = self.input.random % count;
        let mut b = mix(self.input.random) % (count - 1);
        if b >= a {
            b += 1;
        }
        Some((self.nth(a as usize)?, self.nth(b as usize)?))
    }

    /// Consistent hashing: the key's slot in the Maglev table, or its next alternatives
    /// while that target cannot take traffic. A request without a key goes by weight at
    /// random.
    fn hashed(&self) -> Option<usize> {
        let (Some(key), Some(table)) = (self.input.key, self.b.table.as_ref()) else {
            return self.weighted_at(self.input.random);
        };
        for attempt in 0..HASH_PROBES {
            // Each alternative is an independent slot derived from (key, attempt): the keys of
            // a target that is out spread over the others by their share, and a key never
            // walks a sequence correlated with one target's own permutation.
            let slot = if attempt == 0 {
                key
            } else {
                mix(key ^ u64::from(attempt).wrapping_mul(0x9e37_79b9_7f4a_7c15))
            };
            let i = table.lookup(slot)?;
            let Some(target) = self.targets.get(i) else {
                continue;
            };
            if self.c.admits(self.b, i, (self.state)(target), self.input) {
                return Some(i);
            }
        }
        self.nth((key % self.c.count as u64) as usize)
    }
}

impl Candidates {
    /// Whether every one of `len` targets is a candidate (so the k-th is index k).
    fn admits_all(&self, len: usize) -> bool {
        self.count == len
    }
}

/// A step for [`Ctx::smooth`]: coprime to `total`, close to its golden section.
fn coprime_step(total: u64) -> u64 {
    if total <= 2 {
        return 1;
    }
    let mut step = ((total as f64 * GOLDEN) as u64).clamp(1, total - 1);
    while gcd(step, total) != 1 {
        step += 1;
    }
    step
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// SplitMix64's finalizer: a second random number from the first.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_coprime_and_near_the_golden_section() {
        for total in 1..500u64 {
            let step = coprime_step(total);
            assert_eq!(gcd(step, total.max(1)), 1, "total {total}");
        }
        assert_eq!(coprime_step(7), 4);
    }
}

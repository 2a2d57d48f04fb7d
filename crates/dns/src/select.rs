//! Which members of a record set an answer carries, by its routing policy, with Route 53's
//! semantics. Pure: health, weights and the random draw come in.

use ballast_config::Routing;

/// Most members a multivalue answer carries (Route 53's eight).
pub const MULTIVALUE_MAX: usize = 8;

/// What selection needs of one member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its health check passes.
    pub healthy: bool,
    /// Its weight (`weighted`).
    pub weight: u8,
    /// Primary (`failover`).
    pub primary: bool,
}

/// The indices of the members answered. `random(n)` returns a number in `0..n`.
///
/// - `simple`: every member (there is one).
/// - `weighted`: one member, with probability weight / total among the healthy members of
///   non-zero weight; when none is, among the healthy ones of weight zero, alike; when no member
///   is healthy, among all as if they were (Route 53 answers then as if all were healthy).
///   All weights zero: alike.
/// - `failover`: the primary while it is healthy, else the secondary while it is, else the
///   primary.
/// - `multivalue`: up to eight healthy members in random order; when none is healthy, up to
///   eight of all.
pub fn select(
    routing: Routing,
    members: &[Candidate],
    random: &mut impl FnMut(u64) -> u64,
) -> Vec<usize> {
    match routing {
        Routing::Simple => (0..members.len()).collect(),
        Routing::Weighted => weighted(members, random).into_iter().collect(),
        Routing::Failover => {
            let primary = members.iter().position(|m| m.primary);
            let secondary = members.iter().position(|m| !m.primary);
            let healthy = |i: Option<usize>| i.filter(|&i| members[i].healthy);
            healthy(primary)
                .or(healthy(secondary))
                .or(primary)
                .or(secondary)
                .into_iter()
                .collect()
        }
        Routing::Multivalue => {
            let mut chosen: Vec<usize> =
                (0..members.len()).filter(|&i| members[i].healthy).collect();
            if chosen.is_empty() {
                chosen = (0..members.len()).collect();
            }
            // A partial Fisher-Yates shuffle: the first eight are a uniform random choice.
            let take = chosen.len().min(MULTIVALUE_MAX);
            for i in 0..take {
                let j = i + random((chosen.len() - i) as u64) as usize;
                chosen.swap(i, j);
            }
            chosen.truncate(take);
            chosen
        }
    }
}

fn weighted(members: &[Candidate], random: &mut impl FnMut(u64) -> u64) -> Option<usize> {
    // The first non-empty pool, in Route 53's order; later ones are not built.
    let (pool, by_weight) = [(true, true), (true, false), (false, true), (false, false)]
        .into_iter()
        .map(|(healthy, nonzero)| {
            let pool: Vec<usize> = (0..members.len())
                .filter(|&i| (!healthy || members[i].healthy) && (members[i].weight > 0) == nonzero)
                .collect();
            (pool, nonzero)
        })
        .find(|(p, _)| !p.is_empty())?;
    if !by_weight {
        return Some(pool[random(pool.len() as u64) as usize]);
    }
    let total: u64 = pool.iter().map(|&i| u64::from(members[i].weight)).sum();
    let mut draw = random(total);
    for &i in &pool {
        let w = u64::from(members[i].weight);
        if draw < w {
            return Some(i);
        }
        draw -= w;
    }
    pool.last().copied()
}

#[cfg(test)]
mod tests;

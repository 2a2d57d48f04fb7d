//! Maglev consistent hashing: a lookup table from key hash to target.
//!
//! Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
//! section 3.4. Each target walks its own permutation of the table's slots and, in turn, claims
//! the next slot it prefers that is still free, until the table is full. A lookup is then one
//! modulo and one array read, and a change of one target moves few keys, because every other
//! target's preferences are unchanged.
//!
//! Built off the request path when the snapshot is built (CONVENTIONS 7.3); lookups are pure,
//! lock-free and allocation-free.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::fmt;

use crate::hash::stable_hash2;

/// Table sizes, all prime (a test checks). A prime size makes every skip in `1..M` coprime to
/// `M`, so each target's permutation visits every slot. The list roughly doubles, so from 328
/// targets up to the cap a table has between 100 and about 200 slots per target (more below).
///
/// The smallest is large on purpose: a size step remaps almost every key, so groups of up to
/// 655 targets never take one, and extra movement falls as `M` grows.
const TABLE_SIZES: [usize; 6] = [65_537, 131_071, 262_139, 524_287, 1_048_573, 2_097_143];

/// Slots per target the size rule aims for at least. The paper keeps `M` much larger than the
/// number of targets so that slot shares stay within about 1% of even and a change of one
/// target moves few keys besides that target's own.
const MIN_SLOTS_PER_TARGET: usize = 100;

/// Seeds of the per-target offset and skip hashes (ASCII "mglv-off", "mglv-skp", "mglv-prb").
/// Fixed forever: they are part of the table layout the golden test pins.
const OFFSET_SEED: u64 = 0x6d67_6c76_2d6f_6666;
const SKIP_SEED: u64 = 0x6d67_6c76_2d73_6b70;
const PROBE_SEED: u64 = 0x6d67_6c76_2d70_7262;

/// Marks a slot no target has claimed yet during the build; never left in a built table.
const EMPTY: u32 = u32::MAX;

/// A Maglev lookup table: `key_hash % len()` names a slot, and the slot names a target index.
///
/// Exists so hash-based balancing (by client IP, header, cookie or query value) sends a key to
/// the same target on every node and across rebuilds, and moves few keys when targets come or
/// go. Immutable once built, so it lives in the snapshot.
///
/// Layout rules, all of them part of what the golden test pins:
/// - **Size.** The smallest prime in a fixed list (65537, 131071, 262139, 524287, 1048573,
///   2097143) that is at least 100 × the number of targets with a positive weight, so never
///   below 65537. Past 20971 targets it stays at 2097143 (fewer than 100 slots each). Crossing
///   a size step (655 → 656 targets, 1310 → 1311, ...) changes `M` and so remaps almost every
///   key, once.
/// - **Order.** Targets take their turns in order of `(id, weight)`, not of their index, so the
///   key → id mapping does not depend on the order the caller lists targets in.
/// - **Weights.** Target `i` takes `weights[i]` turns for every `max(weights)` turns of the
///   heaviest target, spread evenly over the build rather than in bursts (turn `j` of target `i`
///   happens at virtual time `j / weights[i]`; ties go by the order above). Its share of slots is
///   therefore its share of the total weight, to within a slot or so. A weight of 0 gets no slot.
///
/// Key movement (measured at `M` = 65537, equal weights; see the tests): removing or adding one
/// of `N` targets moves that target's own keys plus an extra that grows with `N / M`, on average
/// 0.02% of all keys at `N` = 3 and 0.45% at `N` = 50, worst 2.0% over 4,800 target sets (100
/// per `N` from 3 to 50). Rare sets of few targets move more (up to about 2.6% in 2,000 random
/// sets per `N`), and two targets that happen to share a skip (a chance of about `N(N-1) / 2M`
/// per set, 1.9% at `N` = 50) can trade up to about 35% of the keys between them when a third
/// one changes. A larger `M` lowers all of these. A size step moves almost every key (99.8% at
/// 655 → 656 targets).
#[derive(Clone)]
pub struct MaglevTable {
    /// Target index per slot; empty when built with no target of positive weight.
    table: Slots,
}

/// The slots, each in the narrowest integer that holds every target index of the table.
///
/// A lookup reads one slot at a random place in the table, usually a cache miss (3.8% of an
/// L4 worker's user time per new connection at 65,537 four-byte slots). With at most 256
/// targets a slot is one byte: the table is 64 KiB instead of 256, more of it stays cached,
/// and every snapshot's hashed group holds a quarter of the memory.
#[derive(Clone)]
enum Slots {
    Narrow(Box<[u8]>),
    Medium(Box<[u16]>),
    Wide(Box<[u32]>),
}

/// One target's walk through its permutation of the slots.
struct Permutation {
    /// The caller's index of the target, stored in the slots it claims.
    target: u32,
    /// The slot the target prefers next: `(offset + j * skip) % M` for its `j`-th preference.
    slot: usize,
    /// `h2(id) % (M - 1) + 1`: never 0, and coprime to the prime `M`.
    skip: usize,
}

/// When a target takes its next turn, ordered so a max-heap pops the earliest turn first.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Turn {
    /// The number of the turn, from 1; it happens at virtual time `number / weight`.
    number: u64,
    /// The target's weight, at least 1.
    weight: u64,
    /// The target's place in `(id, weight)` order, breaking ties between equal times.
    rank: usize,
}

// === impl MaglevTable ===

impl MaglevTable {
    /// Builds the table for targets with identities `ids` and weights `weights`.
    ///
    /// `ids[i]` is a stable identity hash of target `i` (the caller passes
    /// [`stable_hash`](crate::hash::stable_hash) of its address string); `weights[i]` is its
    /// weight, normally at least 1. The slices have the same length; extra entries in the
    /// longer one are ignored. No target, or no target with a positive weight, gives an empty
    /// table. Costs `O(M log M)` on average for the slot search plus `O(M log n)` for the turn
    /// order, with `M` the table size and `n` the number of targets.
    pub fn build(ids: &[u64], weights: &[u32]) -> MaglevTable {
        debug_assert_eq!(ids.len(), weights.len(), "one weight per target id");
        let mut targets: Vec<(u64, u32, u32)> = ids
            .iter()
            .zip(weights)
            .enumerate()
            .filter(|&(_, (_, &weight))| weight > 0)
            .map_while(|(i, (&id, &weight))| {
                // An index that does not fit below EMPTY cannot be stored in a slot.
                let index = u32::try_from(i).ok().filter(|&index| index != EMPTY)?;
                Some((id, weight, index))
            })
            .collect();
        if targets.is_empty() {
            return MaglevTable {
                table: Slots::Narrow(Box::new([])),
            };
        }
        // Caller order must not matter: sort by identity. Equal ids are the same address listed
        // twice; the weight, then the index, settles their order, and either way a key maps to
        // the same id.
        targets.sort_unstable();
        let size = table_size(targets.len());
        MaglevTable {
            table: Slots::narrowest(populate(&targets, size)),
        }
    }

    /// Number of slots: a prime from the size list, or 0 for an empty table.
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether the table was built with no target to send to (every lookup is `None`).
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    /// Target index for a key hash (the caller's [`stable_hash`](crate::hash::stable_hash) of
    /// the request key); `None` when built with no targets.
    pub fn lookup(&self, key_hash: u64) -> Option<usize> {
        let slot = key_hash.checked_rem(self.table.len() as u64)?;
        self.target_at(slot)
    }

    /// Target index at the `attempt`-th slot in the key's probe sequence; `attempt` 0 is
    /// [`lookup`](Self::lookup).
    ///
    /// Exists so a caller can skip targets that cannot take traffic right now (unhealthy,
    /// draining, excluded by a retry) and still stay consistent: a key always walks the same
    /// sequence, so keys whose first target is fine never move, and keys whose first target is
    /// not go to the same substitute on every node. The sequence visits every slot once per `M`
    /// attempts, each step a pseudo-random one chosen by the key, so the keys of a target that
    /// is down spread over the others in proportion to their slots. Successive attempts may name
    /// the same target again, with probability about its share for most keys but more for the
    /// few whose step is a small multiple of their target's skip, as the walk then follows that
    /// target's own permutation: with 10 targets, 0.9% of keys name their first target again on
    /// each of attempts 1 to 3 (0.1% if independent) and about 2 in a million on all of 1 to
    /// 63. The caller bounds the attempts.
    pub fn probe(&self, key_hash: u64, attempt: u32) -> Option<usize> {
        if attempt == 0 {
            return self.lookup(key_hash);
        }
        let size = self.table.len() as u64;
        let start = key_hash.checked_rem(size)?;
        // An independent hash of the key for the step, so keys that share a first slot do not
        // share their alternatives. Never 0 and below the prime `size`, so it cycles all slots.
        let step = stable_hash2(&key_hash.to_le_bytes(), PROBE_SEED) % (size - 1).max(1) + 1;
        // `(attempt % size) * step < size²`, well inside u64 for the largest table.
        let slot = (start + (u64::from(attempt) % size) * step) % size;
        self.target_at(slot)
    }

    fn target_at(&self, slot: u64) -> Option<usize> {
        self.table.get(usize::try_from(slot).ok()?)
    }

    /// Every slot's target index, in slot order (for tests of the layout).
    #[cfg(test)]
    fn slots(&self) -> Vec<u32> {
        (0..self.len())
            .filter_map(|i| self.table.get(i))
            .map(|t| t as u32)
            .collect()
    }
}

// === impl Slots ===

impl Slots {
    /// `table` in the narrowest form that holds its largest index.
    fn narrowest(table: Vec<u32>) -> Slots {
        let largest = table.iter().copied().max().unwrap_or(0);
        // The casts below cannot truncate: every index is at most `largest`.
        if largest <= u32::from(u8::MAX) {
            Slots::Narrow(table.iter().map(|&t| t as u8).collect())
        } else if largest <= u32::from(u16::MAX) {
            Slots::Medium(table.iter().map(|&t| t as u16).collect())
        } else {
            Slots::Wide(table.into_boxed_slice())
        }
    }

    fn len(&self) -> usize {
        match self {
            Slots::Narrow(t) => t.len(),
            Slots::Medium(t) => t.len(),
            Slots::Wide(t) => t.len(),
        }
    }

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, slot: usize) -> Option<usize> {
        match self {
            Slots::Narrow(t) => t.get(slot).map(|&i| usize::from(i)),
            Slots::Medium(t) => t.get(slot).map(|&i| usize::from(i)),
            Slots::Wide(t) => t.get(slot).map(|&i| i as usize),
        }
    }
}

impl fmt::Debug for MaglevTable {
    // Not derived: a table holds tens of thousands to millions of slots, and a snapshot's debug
    // output should not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MaglevTable")
            .field("slots", &self.table.len())
            .finish_non_exhaustive()
    }
}

// === impl Turn ===

impl Ord for Turn {
    fn cmp(&self, other: &Self) -> Ordering {
        // Earlier virtual time `number / weight` first, compared without division: both sides
        // stay below 2^21 × 2^32, so the products cannot overflow. Reversed for the max-heap.
        let time = (other.number * self.weight).cmp(&(self.number * other.weight));
        time.then_with(|| other.rank.cmp(&self.rank))
    }
}

impl PartialOrd for Turn {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

// === impl Permutation ===

impl Permutation {
    fn new(id: u64, target: u32, size: usize) -> Self {
        let size64 = size as u64;
        let id = id.to_le_bytes();
        Permutation {
            target,
            // Both results are below `size`, which is a `usize`.
            slot: (stable_hash2(&id, OFFSET_SEED) % size64) as usize,
            skip: (stable_hash2(&id, SKIP_SEED) % (size64 - 1) + 1) as usize,
        }
    }

    /// Moves to the next preference; `slot + skip < 2 * size`, so one subtraction wraps it.
    fn advance(&mut self, size: usize) {
        self.slot += self.skip;
        if self.slot >= size {
            self.slot -= size;
        }
    }
}

/// The smallest listed prime with at least [`MIN_SLOTS_PER_TARGET`] slots per target, or the
/// largest listed one.
fn table_size(targets: usize) -> usize {
    let wanted = targets.saturating_mul(MIN_SLOTS_PER_TARGET);
    let largest = TABLE_SIZES[TABLE_SIZES.len() - 1];
    TABLE_SIZES
        .into_iter()
        .find(|&size| size >= wanted)
        .unwrap_or(largest)
}

/// Fills `size` slots from `targets` (sorted `(id, weight, index)`, weights at least 1).
///
/// Terminates: each turn fills exactly one slot, and finds a free one because a permutation
/// cycles through every slot and at least one is free until the last turn. A target's walk only
/// moves forward past taken slots, so it takes at most `M` steps over the whole build, and
/// all walks together take `O(M log M)` steps on average, as in the paper.
fn populate(targets: &[(u64, u32, u32)], size: usize) -> Vec<u32> {
    let mut walks: Vec<Permutation> = targets
        .iter()
        .map(|&(id, _, index)| Permutation::new(id, index, size))
        .collect();
    let mut turns: BinaryHeap<Turn> = targets
        .iter()
        .enumerate()
        .map(|(rank, &(_, weight, _))| Turn {
            number: 1,
            weight: u64::from(weight),
            rank,
        })
        .collect();
    let mut table = vec![EMPTY; size];
    for _ in 0..size {
        let Some(mut turn) = turns.peek_mut() else {
            break;
        };
        let walk = &mut walks[turn.rank];
        while table[walk.slot] != EMPTY {
            walk.advance(size);
        }
        table[walk.slot] = walk.target;
        walk.advance(size);
        turn.number += 1;
        // Dropping the `PeekMut` at the end of the iteration sifts the turn back to its place.
    }
    debug_assert!(!table.contains(&EMPTY), "every slot is claimed");
    table
}

#[cfg(test)]
mod tests;

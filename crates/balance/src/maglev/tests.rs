use super::*;
use crate::hash::stable_hash;
use proptest::prelude::*;

/// Ids as the caller makes them: the stable hash of each target's address. `net` varies the
/// addresses so statistical tests can draw many unrelated target sets.
fn address_ids(n: usize, net: usize) -> Vec<u64> {
    (0..n)
        .map(|i| stable_hash(format!("10.{net}.{}.{}:8080", i / 256, i % 256).as_bytes()))
        .collect()
}

fn keys(count: u64) -> impl Iterator<Item = u64> {
    (0..count).map(|k| stable_hash(&k.to_le_bytes()))
}

fn equal(n: usize) -> Vec<u32> {
    vec![1; n]
}

/// Slots per target index.
fn slot_counts(table: &MaglevTable, targets: usize) -> Vec<usize> {
    let mut counts = vec![0; targets];
    for target in table.slots() {
        counts[target as usize] += 1;
    }
    counts
}

/// Fraction of the key space whose target id differs between two tables of the same size,
/// each given with its targets' ids. Compared slot by slot, so exact for uniformly hashed keys
/// rather than a sample.
fn moved(before: (&MaglevTable, &[u64]), after: (&MaglevTable, &[u64])) -> f64 {
    let ((old, old_ids), (new, new_ids)) = (before, after);
    assert_eq!(old.len(), new.len(), "same table size");
    let moved = old
        .slots()
        .into_iter()
        .zip(new.slots())
        .filter(|&(a, b)| old_ids[a as usize] != new_ids[b as usize])
        .count();
    moved as f64 / old.len() as f64
}

/// Fraction of the key space on `target`.
fn share_of(table: &MaglevTable, target: usize) -> f64 {
    let on = table
        .slots()
        .into_iter()
        .filter(|&t| t as usize == target)
        .count();
    on as f64 / table.len() as f64
}

/// Whether two of the targets walk the slots with the same skip. Their permutations are then
/// shifts of one another, and a change elsewhere can move many keys between the two (see
/// `a_shared_skip_moves_more`).
fn skips_collide(ids: &[u64], size: usize) -> bool {
    let mut skips: Vec<usize> = ids
        .iter()
        .map(|&id| Permutation::new(id, 0, size).skip)
        .collect();
    skips.sort_unstable();
    skips.windows(2).any(|w| w[0] == w[1])
}

fn is_prime(n: usize) -> bool {
    n >= 2
        && (2..)
            .take_while(|d| d * d <= n)
            .all(|d| !n.is_multiple_of(d))
}

#[test]
fn table_sizes_are_increasing_primes() {
    assert!(TABLE_SIZES.iter().all(|&size| is_prime(size)));
    assert!(TABLE_SIZES.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn table_size_gives_at_least_100_slots_per_target_from_65537_up_to_the_cap() {
    assert_eq!(table_size(1), 65_537);
    assert_eq!(table_size(655), 65_537);
    assert_eq!(table_size(656), 131_071);
    assert_eq!(table_size(1_000), 131_071);
    assert_eq!(table_size(1_310), 131_071);
    assert_eq!(table_size(1_311), 262_139);
    assert_eq!(table_size(20_971), 2_097_143);
    assert_eq!(table_size(20_972), 2_097_143);
    assert_eq!(table_size(usize::MAX), 2_097_143);
    for n in 1..=20_971 {
        assert!(table_size(n) >= n * MIN_SLOTS_PER_TARGET);
    }
}

#[test]
fn no_target_gives_an_empty_table() {
    for table in [
        MaglevTable::build(&[], &[]),
        MaglevTable::build(&[1, 2], &[0, 0]),
    ] {
        assert!(table.is_empty());
        assert_eq!(table.len(), 0);
        assert_eq!(table.lookup(42), None);
        assert_eq!(table.probe(42, 3), None);
    }
}

#[test]
fn slots_are_stored_in_the_narrowest_width_and_read_back_unchanged() {
    let cases: [(u32, &str); 6] = [
        (0, "Narrow"),
        (255, "Narrow"),
        (256, "Medium"),
        (65_535, "Medium"),
        (65_536, "Wide"),
        (70_000, "Wide"),
    ];
    for (largest, width) in cases {
        let mut table: Vec<u32> = (0..1_000u32).map(|i| i * 7919 % (largest + 1)).collect();
        table.push(largest);
        let slots = Slots::narrowest(table.clone());
        let name = match slots {
            Slots::Narrow(_) => "Narrow",
            Slots::Medium(_) => "Medium",
            Slots::Wide(_) => "Wide",
        };
        assert_eq!(name, width, "largest index {largest}");
        assert_eq!(slots.len(), table.len());
        for (i, &t) in table.iter().enumerate() {
            assert_eq!(slots.get(i), Some(t as usize));
        }
        assert_eq!(slots.get(table.len()), None);
    }
    // A real table of more than 256 targets takes two bytes a slot, and names them all.
    let table = MaglevTable::build(&address_ids(300, 0), &equal(300));
    assert!(matches!(table.table, Slots::Medium(_)));
    assert_eq!(
        slot_counts(&table, 300).iter().filter(|&&c| c > 0).count(),
        300
    );
}

#[test]
fn fills_every_slot_with_a_listed_target() {
    let table = MaglevTable::build(&address_ids(7, 0), &equal(7));
    assert_eq!(table.len(), 65_537);
    assert!(!table.is_empty());
    assert!(table.slots().iter().all(|&t| t < 7));
    assert_eq!(format!("{table:?}"), "MaglevTable { slots: 65537, .. }");
}

#[test]
fn equal_weights_get_equal_shares() {
    for n in [1, 2, 3, 10, 50, 200, 655, 656] {
        let table = MaglevTable::build(&address_ids(n, 0), &equal(n));
        let even = table.len() as f64 / n as f64;
        for count in slot_counts(&table, n) {
            assert!(
                (count as f64 - even).abs() <= 0.1 * even,
                "n={n}: {count} vs {even}"
            );
        }
    }
}

#[test]
fn weights_set_the_share_of_slots() {
    for weights in [
        vec![3, 1, 1],
        vec![1, 2, 3, 4],
        vec![100, 1, 1, 1, 1],
        vec![7, 7, 1],
    ] {
        let n = weights.len();
        let table = MaglevTable::build(&address_ids(n, 0), &weights);
        let total: u32 = weights.iter().sum();
        for (count, &weight) in slot_counts(&table, n).iter().zip(&weights) {
            let want = table.len() as f64 * f64::from(weight) / f64::from(total);
            assert!(
                (*count as f64 - want).abs() <= 0.1 * want,
                "{weights:?}: {count} vs {want}"
            );
        }
    }
}

#[test]
fn zero_weight_gets_no_slot_and_huge_weights_terminate() {
    let table = MaglevTable::build(&address_ids(3, 0), &[1, 0, 1]);
    assert_eq!(slot_counts(&table, 3)[1], 0);
    let table = MaglevTable::build(&address_ids(3, 0), &[u32::MAX, 1, u32::MAX]);
    let counts = slot_counts(&table, 3);
    assert_eq!(counts[1], 0, "{counts:?}");
    assert!(counts[0].abs_diff(counts[2]) <= 1, "{counts:?}");
}

#[test]
fn many_targets_past_the_size_cap_all_get_slots() {
    // The largest build the tests do: about 2 s in a debug build.
    let n = 21_000;
    let table = MaglevTable::build(&address_ids(n, 0), &equal(n));
    assert_eq!(table.len(), 2_097_143);
    let counts = slot_counts(&table, n);
    assert!(counts.iter().all(|&c| c.abs_diff(2_097_143 / n) <= 1));
}

#[test]
fn first_probe_is_the_lookup_and_later_probes_reach_other_targets() {
    for n in [2, 3, 10] {
        let table = MaglevTable::build(&address_ids(n, 0), &equal(n));
        let mut stuck = 0;
        for key in keys(2_000) {
            let first = table.lookup(key);
            assert_eq!(table.probe(key, 0), first);
            assert_eq!(table.probe(key, 5), table.probe(key, 5));
            assert!(table.probe(key, u32::MAX).is_some());
            stuck += usize::from((1..64).all(|attempt| table.probe(key, attempt) == first));
        }
        // Not every key: one whose step follows its target's own permutation can stay on that
        // target for all 63 attempts (see `probe`), about 3 keys in 10,000 with 2 targets.
        assert!(
            stuck <= 2,
            "n={n}: {stuck} of 2000 keys never leave their first target"
        );
    }
}

#[test]
fn keys_of_a_target_that_is_down_spread_over_the_others() {
    // What a caller skipping an unhealthy target sees: its keys take the first probe that
    // names another target, and land on the survivors about evenly.
    let table = MaglevTable::build(&address_ids(5, 0), &equal(5));
    let down = 2;
    let mut landed = [0usize; 5];
    for key in keys(20_000).filter(|&key| table.lookup(key) == Some(down)) {
        let alternative = (1..).find_map(|a| table.probe(key, a).filter(|&t| t != down));
        landed[alternative.unwrap_or(down)] += 1;
    }
    let total: usize = landed.iter().sum();
    assert_eq!(landed[down], 0);
    for (target, &count) in landed.iter().enumerate().filter(|&(t, _)| t != down) {
        let share = count as f64 / total as f64;
        assert!((share - 0.25).abs() < 0.04, "target {target}: {share}");
    }
}

#[test]
fn layout_is_pinned() {
    // If this fails, keys go elsewhere after an upgrade than before it, and nodes of mixed
    // versions disagree: restore the layout, do not update the values.
    let table = MaglevTable::build(&address_ids(5, 0), &equal(5));
    let picks: Vec<usize> = (0u64..16)
        .filter_map(|k| table.lookup(stable_hash(format!("key-{k}").as_bytes())))
        .collect();
    assert_eq!(picks, [2, 1, 4, 4, 0, 4, 3, 3, 1, 2, 0, 0, 2, 3, 1, 1]);
    let probes: Vec<usize> = (0..8).filter_map(|a| table.probe(7, a)).collect();
    assert_eq!(probes, [0, 1, 2, 1, 4, 2, 0, 3]);
    let weighted = MaglevTable::build(&address_ids(3, 0), &[3, 1, 1]);
    assert_eq!(layout_digest(&table), 0x79ae_c8dc_518d_2d58);
    assert_eq!(layout_digest(&weighted), 0x732b_2a8d_8fd3_8330);
}

/// A stable digest of every slot, so the golden test covers the whole table.
fn layout_digest(table: &MaglevTable) -> u64 {
    let bytes: Vec<u8> = table.slots().iter().flat_map(|t| t.to_le_bytes()).collect();
    stable_hash(&bytes)
}

/// Extra keys moved when the last of `n` targets is removed, for the target sets `0..sets`:
/// the fraction of keys that move, less that target's own share. Removing a target and adding
/// it back move the same slots, so one number covers both.
fn extra_movement(n: usize, sets: usize) -> Vec<f64> {
    (0..sets)
        .map(|net| {
            let ids = address_ids(n, net);
            let all = MaglevTable::build(&ids, &equal(n));
            let without_last = MaglevTable::build(&ids[..n - 1], &equal(n - 1));
            moved((&all, &ids), (&without_last, &ids[..n - 1])) - share_of(&all, n - 1)
        })
        .collect()
}

/// Prints the mean extra movement for each `n` and returns the mean and worst over all sets.
fn report_movement(ns: impl IntoIterator<Item = usize>, sets: usize) -> (f64, f64) {
    let mut extras = Vec::new();
    for n in ns {
        let these = extra_movement(n, sets);
        if [3, 5, 10, 20, 30, 40, 50].contains(&n) {
            eprintln!(
                "maglev N={n:2}: extra keys moved {:.2}% (mean of {sets} target sets)",
                100.0 * these.iter().sum::<f64>() / sets as f64
            );
        }
        extras.extend(these);
    }
    let mean = extras.iter().sum::<f64>() / extras.len() as f64;
    let worst = extras.iter().copied().fold(0.0, f64::max);
    eprintln!(
        "maglev, {} target sets: removing or adding one target moves its own keys plus {:.2}% \
         of all keys (mean), {:.2}% (worst)",
        extras.len(),
        100.0 * mean,
        100.0 * worst
    );
    (mean, worst)
}

/// Bound on the mean extra movement, with room over the measured 0.34%.
const MEAN_EXTRA: f64 = 0.01;
/// Bound on the worst extra movement, with room over the measured 2.0%.
const WORST_EXTRA: f64 = 0.03;

#[test]
fn movement_report() {
    // A sample cheap enough for a debug build (`cargo test movement_report -- --nocapture`);
    // the numbers in the docs come from `movement_report_full`. N stays within one table size
    // (N <= 655, M = 65537); the size step is measured below.
    let (mean, worst) = report_movement([3, 5, 10, 20, 30, 40, 50], 3);
    assert!(
        mean <= MEAN_EXTRA && worst <= WORST_EXTRA,
        "mean {mean} worst {worst}"
    );

    // The largest group below the size step still moves few extra keys.
    let ids = address_ids(656, 0);
    let extra = extra_movement(655, 1)[0];
    eprintln!(
        "maglev, 654 -> 655 targets (M 65537): extra keys moved {:.2}%",
        100.0 * extra
    );
    assert!(extra <= WORST_EXTRA, "extra {extra}");
    let below = MaglevTable::build(&ids[..655], &equal(655));
    let above = MaglevTable::build(&ids, &equal(656));
    assert_eq!((below.len(), above.len()), (65_537, 131_071));
    let id = |table: &MaglevTable, key| table.lookup(key).map(|i| ids[i]);
    let crossed = keys(20_000)
        .filter(|&key| id(&below, key) != id(&above, key))
        .count() as f64
        / 20_000.0;
    eprintln!(
        "maglev, 655 -> 656 targets crosses a size step (M 65537 -> 131071): {:.1}% of 20000 \
         keys move",
        100.0 * crossed
    );
    assert!(crossed > 0.95, "crossed {crossed}");
}

#[test]
#[ignore = "about 25 s in a release build; run with --release -- --ignored --nocapture"]
fn movement_report_full() {
    // The numbers for the docs: every N in 3..=50, 100 target sets each, M = 65537.
    let (mean, worst) = report_movement(3..=50, 100);
    assert!(
        mean <= MEAN_EXTRA && worst <= WORST_EXTRA,
        "mean {mean} worst {worst}"
    );
}

#[test]
#[ignore = "a timing, meaningful only in a release build: --release -- --ignored --nocapture"]
fn build_time_report() {
    for n in [10, 100, 1_000] {
        let (ids, weights) = (address_ids(n, 0), equal(n));
        let mut best = std::time::Duration::MAX;
        for _ in 0..20 {
            let start = std::time::Instant::now();
            let table = MaglevTable::build(&ids, &weights);
            best = best.min(start.elapsed());
            assert!(!table.is_empty());
        }
        eprintln!(
            "maglev, {n} targets (M {}): build takes {best:?} (best of 20)",
            table_size(n)
        );
    }
}

#[test]
fn a_shared_skip_moves_more() {
    // Two targets whose skips coincide (chance about N(N-1)/2M per target set, 1 in 22,000
    // for N = 3 at M = 65537) walk the same cycle of slots, so removing a third one can hand
    // long runs of slots from one of the two to the other: 13% of the keys on average and 35%
    // at worst over 1,000 such sets. The search finds its first colliding pair after about 600
    // hashed counters. Pinned so the docs' caveat stays true and visible.
    let size = table_size(3);
    let mut by_skip = std::collections::HashMap::new();
    let (a, b) = (0u64..)
        .map(|i| stable_hash(&i.to_le_bytes()))
        .find_map(|id| {
            let skip = Permutation::new(id, 0, size).skip;
            by_skip.insert(skip, id).map(|other| (other, id))
        })
        .unwrap_or_default();
    let ids = [a, b, stable_hash(b"10.0.0.3:8080")];
    let all = MaglevTable::build(&ids, &equal(3));
    let two = MaglevTable::build(&ids[..2], &equal(2));
    let extra = moved((&all, &ids), (&two, &ids[..2])) - share_of(&all, 2);
    eprintln!(
        "maglev, shared skip, 3 -> 2 targets: extra keys moved {:.1}%",
        100.0 * extra
    );
    assert!(skips_collide(&ids, size), "a pair shares a skip");
    assert!(extra > 0.02 && extra < 0.4, "extra {extra}");
}

proptest! {
    // Few cases: each builds two tables of 65537 slots, about 45 ms in a debug build.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn removing_a_target_moves_its_keys_and_few_others(
        ids in prop::collection::hash_set(any::<u64>(), 3..=50),
        removed in any::<prop::sample::Index>(),
    ) {
        let before: Vec<u64> = ids.into_iter().collect();
        let n = before.len();
        prop_assume!(!skips_collide(&before, table_size(n)));
        let removed = removed.index(n);
        let mut after = before.clone();
        after.remove(removed);
        let old = MaglevTable::build(&before, &equal(n));
        let new = MaglevTable::build(&after, &equal(n - 1));
        let own = share_of(&old, removed);
        let total = moved((&old, &before), (&new, &after));
        // Every key of the removed target moves; the rest is Maglev's extra disruption, 0.02%
        // to 0.45% on average (`movement_report_full`) but with a tail: 2.6% was the worst of
        // 2,000 random sets per N in 3..=50 (without a shared skip).
        prop_assert!(total >= own);
        prop_assert!(total <= 1.0 / n as f64 + 0.05, "n={} moved {} own {}", n, total, own);
    }

    #[test]
    fn adding_a_target_moves_about_its_share(
        ids in prop::collection::hash_set(any::<u64>(), 4..=50),
    ) {
        let after: Vec<u64> = ids.into_iter().collect();
        let n = after.len();
        prop_assume!(!skips_collide(&after, table_size(n)));
        let before = &after[..n - 1];
        let old = MaglevTable::build(before, &equal(n - 1));
        let new = MaglevTable::build(&after, &equal(n));
        let total = moved((&old, before), (&new, &after));
        prop_assert!(total >= share_of(&new, n - 1));
        prop_assert!(total <= 1.0 / n as f64 + 0.05, "n={} moved {}", n, total);
    }

    #[test]
    fn target_order_does_not_change_where_keys_go(
        targets in prop::collection::vec((any::<u64>(), 1u32..=5), 1..=40)
            .prop_flat_map(|t| (Just(t.clone()), Just(t).prop_shuffle())),
    ) {
        let (listed, shuffled) = targets;
        let split = |t: &[(u64, u32)]| -> (Vec<u64>, Vec<u32>) { t.iter().copied().unzip() };
        let (ids_a, weights_a) = split(&listed);
        let (ids_b, weights_b) = split(&shuffled);
        let a = MaglevTable::build(&ids_a, &weights_a);
        let b = MaglevTable::build(&ids_b, &weights_b);
        prop_assert_eq!(a.len(), b.len());
        for (ta, tb) in a.slots().into_iter().zip(b.slots()) {
            prop_assert_eq!(ids_a[ta as usize], ids_b[tb as usize]);
        }
    }
}

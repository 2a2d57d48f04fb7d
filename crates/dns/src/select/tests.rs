use super::*;

fn c(healthy: bool, weight: u8, primary: bool) -> Candidate {
    Candidate {
        healthy,
        weight,
        primary,
    }
}

fn rng(seed: u64) -> impl FnMut(u64) -> u64 {
    let mut r = fastrand::Rng::with_seed(seed);
    move |n| r.u64(..n.max(1))
}

fn counts(routing: Routing, members: &[Candidate], draws: usize) -> Vec<usize> {
    let mut random = rng(7);
    let mut counts = vec![0; members.len()];
    for _ in 0..draws {
        for i in select(routing, members, &mut random) {
            counts[i] += 1;
        }
    }
    counts
}

#[test]
fn failover_answers_the_primary_unless_only_the_secondary_is_healthy() {
    let mut r = rng(1);
    let both = [c(true, 0, true), c(true, 0, false)];
    assert_eq!(select(Routing::Failover, &both, &mut r), [0]);
    let primary_down = [c(false, 0, true), c(true, 0, false)];
    assert_eq!(select(Routing::Failover, &primary_down, &mut r), [1]);
    let both_down = [c(false, 0, false), c(false, 0, true)];
    assert_eq!(
        select(Routing::Failover, &both_down, &mut r),
        [1],
        "the primary"
    );
}

#[test]
fn weighted_answers_follow_the_weights_of_healthy_members() {
    // 3 : 1 over 40,000 draws: within 2 percentage points of 75 %.
    let members = [c(true, 3, false), c(true, 1, false), c(false, 200, false)];
    let n = counts(Routing::Weighted, &members, 40_000);
    let share = n[0] as f64 / 40_000.0;
    assert!((share - 0.75).abs() < 0.02, "{n:?}");
    assert_eq!(n[2], 0, "an unhealthy member is left out");
    // Weight zero only when no healthy member has a weight.
    let zero = [c(true, 0, false), c(false, 5, false)];
    assert_eq!(counts(Routing::Weighted, &zero, 100), [100, 0]);
    // All zero: alike.
    let alike = counts(
        Routing::Weighted,
        &[c(true, 0, false), c(true, 0, false)],
        10_000,
    );
    assert!(alike[0].abs_diff(alike[1]) < 600, "{alike:?}");
    // None healthy: as if all were.
    let down = counts(
        Routing::Weighted,
        &[c(false, 1, false), c(false, 1, false)],
        1000,
    );
    assert!(down[0] > 0 && down[1] > 0, "{down:?}");
}

#[test]
fn multivalue_answers_up_to_eight_healthy_members_at_random() {
    let mut members = vec![c(true, 0, false); 12];
    members[3].healthy = false;
    let mut r = rng(3);
    for _ in 0..200 {
        let chosen = select(Routing::Multivalue, &members, &mut r);
        assert_eq!(chosen.len(), 8);
        assert!(!chosen.contains(&3));
        let mut unique = chosen.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), 8);
    }
    // Every healthy member shows up over many answers.
    let n = counts(Routing::Multivalue, &members, 2000);
    assert!(
        n.iter().enumerate().all(|(i, &k)| (i == 3) == (k == 0)),
        "{n:?}"
    );
    // None healthy: some of all.
    let down = vec![c(false, 0, false); 3];
    assert_eq!(select(Routing::Multivalue, &down, &mut r).len(), 3);
}

#[test]
fn simple_answers_its_member() {
    assert_eq!(
        select(Routing::Simple, &[c(false, 0, false)], &mut rng(1)),
        [0]
    );
}

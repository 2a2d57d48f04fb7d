use super::*;
use proptest::prelude::*;
use std::net::{Ipv4Addr, SocketAddrV4};

fn client(n: u32) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(0x0a00_0000 + n), 40_000))
}

/// Walks the recency list both ways and checks it against the index: every flow listed once,
/// in reverse order backwards, each where the index says.
fn check_links<V>(table: &FlowTable<V>) -> Vec<SocketAddr> {
    let mut oldest_first = Vec::new();
    let mut slot = table.oldest;
    while slot != NIL {
        let flow = &table.flows[slot];
        assert_eq!(table.index[&flow.client], slot);
        oldest_first.push(flow.client);
        slot = flow.newer;
        assert!(oldest_first.len() <= table.flows.len(), "cycle");
    }
    let mut newest_first = Vec::new();
    let mut slot = table.newest;
    while slot != NIL {
        newest_first.push(table.flows[slot].client);
        slot = table.flows[slot].older;
        assert!(newest_first.len() <= table.flows.len(), "cycle");
    }
    newest_first.reverse();
    assert_eq!(oldest_first, newest_first);
    assert_eq!(oldest_first.len(), table.len());
    assert_eq!(table.index.len(), table.len());
    oldest_first
}

#[test]
fn evicts_the_least_recently_used() {
    let mut table = FlowTable::new(3);
    assert!(table.is_empty());
    for n in 0..3 {
        assert_eq!(table.insert(client(n), n, 0), None);
    }
    assert_eq!(table.get(&client(0), 1), Some(&0));
    // 1 is now the oldest.
    assert_eq!(table.insert(client(3), 3, 2), Some((client(1), 1)));
    assert_eq!(table.get(&client(1), 3), None);
    assert_eq!(check_links(&table), [client(2), client(0), client(3)]);
    assert_eq!(table.len(), 3);
    assert_eq!(table.max_flows(), 3);
}

#[test]
fn inserting_an_existing_client_replaces_its_value() {
    let mut table = FlowTable::new(2);
    table.insert(client(0), "a", 0);
    table.insert(client(1), "b", 0);
    // Replaced, not evicted, and now the newest.
    assert_eq!(table.insert(client(0), "c", 1), Some((client(0), "a")));
    assert_eq!(table.len(), 2);
    assert_eq!(table.insert(client(2), "d", 2), Some((client(1), "b")));
    assert_eq!(table.get(&client(0), 3), Some(&"c"));
}

#[test]
fn remove_and_reuse() {
    let mut table = FlowTable::new(3);
    for n in 0..3 {
        table.insert(client(n), n, u64::from(n));
    }
    assert_eq!(table.remove(&client(0)), Some(0));
    assert_eq!(table.remove(&client(0)), None);
    assert_eq!(check_links(&table), [client(1), client(2)]);
    assert_eq!(
        table.insert(client(3), 3, 4),
        None,
        "room left by the removal"
    );
    assert_eq!(table.insert(client(4), 4, 5), Some((client(1), 1)));
    assert_eq!(check_links(&table), [client(2), client(3), client(4)]);
}

#[test]
fn zero_flows_means_one() {
    let mut table = FlowTable::new(0);
    assert_eq!(table.max_flows(), 1);
    assert_eq!(table.insert(client(0), (), 0), None);
    assert_eq!(table.insert(client(1), (), 0), Some((client(0), ())));
    assert_eq!(format!("{table:?}"), "FlowTable { len: 1, max_flows: 1 }");
}

#[test]
fn pop_idle_takes_flows_not_used_since() {
    let mut table = FlowTable::new(10);
    table.insert(client(0), 0, 10);
    table.insert(client(1), 1, 20);
    table.insert(client(2), 2, 30);
    table.get(&client(0), 40);
    assert_eq!(table.pop_idle(20), None, "1 was used at 20, not before");
    assert_eq!(table.pop_idle(31), Some((client(1), 1)));
    assert_eq!(table.pop_idle(31), Some((client(2), 2)));
    assert_eq!(table.pop_idle(31), None);
    assert_eq!(table.pop_idle(u64::MAX), Some((client(0), 0)));
    assert_eq!(table.pop_idle(u64::MAX), None);
}

#[test]
fn a_hundred_thousand_flows() {
    const FLOWS: u32 = 100_000;
    let mut table = FlowTable::new(FLOWS as usize);
    for n in 0..FLOWS {
        assert_eq!(table.insert(client(n), n, u64::from(n)), None);
    }
    for n in 0..FLOWS {
        assert_eq!(table.get(&client(n), u64::from(FLOWS + n)), Some(&n));
    }
    // Every flow was used again, in order, so the next ones evict in that order.
    for n in 0..1000 {
        assert_eq!(
            table.insert(client(FLOWS + n), 0, u64::from(2 * FLOWS)),
            Some((client(n), n))
        );
    }
    for n in 1000..FLOWS / 2 {
        assert_eq!(table.remove(&client(n)), Some(n));
    }
    assert_eq!(table.len(), FLOWS as usize / 2 + 1000);
    check_links(&table);
}

// === model ===

#[derive(Debug, Clone)]
enum Op {
    Get(u32),
    Insert(u32, u32),
    Remove(u32),
    /// Pops flows idle for at least this many ticks.
    PopIdle(u64),
}

fn op() -> impl Strategy<Value = Op> {
    // Few clients, so gets, replacements and removals hit existing flows often.
    prop_oneof![
        3 => (0u32..10).prop_map(Op::Get),
        4 => (0u32..10, any::<u32>()).prop_map(|(c, v)| Op::Insert(c, v)),
        1 => (0u32..10).prop_map(Op::Remove),
        1 => (0u64..20).prop_map(Op::PopIdle),
    ]
}

/// The obvious LRU: a vector from least to most recently used, scanned on every call.
struct Model {
    flows: Vec<(SocketAddr, u32, u64)>,
    max_flows: usize,
}

impl Model {
    fn take(&mut self, client: SocketAddr) -> Option<(SocketAddr, u32, u64)> {
        let at = self.flows.iter().position(|f| f.0 == client)?;
        Some(self.flows.remove(at))
    }

    fn apply(&mut self, op: &Op, now: u64) -> String {
        match *op {
            Op::Get(c) => {
                let found = self.take(client(c)).map(|(a, v, _)| {
                    self.flows.push((a, v, now));
                    v
                });
                format!("{found:?}")
            }
            Op::Insert(c, v) => {
                let out = match self.take(client(c)) {
                    Some((a, old, _)) => Some((a, old)),
                    None if self.flows.len() >= self.max_flows => {
                        Some(self.flows.remove(0)).map(|(a, v, _)| (a, v))
                    }
                    None => None,
                };
                self.flows.push((client(c), v, now));
                format!("{out:?}")
            }
            Op::Remove(c) => format!("{:?}", self.take(client(c)).map(|f| f.1)),
            Op::PopIdle(idle) => {
                let before = now.saturating_sub(idle);
                let out = match self.flows.first() {
                    Some(&(_, _, used)) if used < before => {
                        Some(self.flows.remove(0)).map(|(a, v, _)| (a, v))
                    }
                    _ => None,
                };
                format!("{out:?}")
            }
        }
    }
}

fn apply(table: &mut FlowTable<u32>, op: &Op, now: u64) -> String {
    match *op {
        Op::Get(c) => format!("{:?}", table.get(&client(c), now).copied()),
        Op::Insert(c, v) => format!("{:?}", table.insert(client(c), v, now)),
        Op::Remove(c) => format!("{:?}", table.remove(&client(c))),
        Op::PopIdle(idle) => format!("{:?}", table.pop_idle(now.saturating_sub(idle))),
    }
}

proptest! {
    #[test]
    fn behaves_like_the_obvious_lru(max_flows in 1usize..6, ops in proptest::collection::vec((op(), any::<bool>()), 0..200)) {
        let mut table = FlowTable::new(max_flows);
        let mut model = Model { flows: Vec::new(), max_flows };
        let mut now = 0;
        for (op, tick) in &ops {
            // Ticks repeat at times: recency must follow the calls, not the ticks.
            now += u64::from(*tick);
            prop_assert_eq!(apply(&mut table, op, now), model.apply(op, now), "{:?}", op);
            let order: Vec<SocketAddr> = model.flows.iter().map(|f| f.0).collect();
            prop_assert_eq!(check_links(&table), order);
        }
        while let Some((client, value)) = table.pop_idle(u64::MAX) {
            let (expected_client, expected_value, _) = model.flows.remove(0);
            prop_assert_eq!((client, value), (expected_client, expected_value));
        }
        prop_assert!(model.flows.is_empty());
    }
}

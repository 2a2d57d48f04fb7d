//! A bounded table of UDP flows, keyed by client address, that evicts the least recently
//! used flow when full.
//!
//! UDP has no connection to close, so a UDP listener keeps one flow (the socket towards the
//! chosen target, and whatever goes with it) per client address, and must bound how many it
//! keeps: any datagram with a new source address would otherwise cost a socket. Pure: the
//! caller passes the time as a tick (CONVENTIONS 7.4.7) and owns the sockets.
//!
//! Every operation is O(1): the flows sit in a vector, linked into a list from most to least
//! recently used by index, with a hash map from client to index. A lazily cleaned queue of
//! (client, tick) pairs would be simpler, but re-queueing a used flow behind flows inserted
//! after its use only approximates LRU; the linked list is exact.

use std::collections::HashMap;
use std::net::SocketAddr;

#[cfg(test)]
mod tests;

/// A bounded table of UDP flows keyed by client address, least recently used evicted first.
///
/// Exists so a UDP listener's memory and socket count stay bounded whatever source addresses
/// arrive. Not shared: one listener task owns it (`&mut self` on every call), so it needs no
/// lock on the data path. Ticks (`now`) are chosen by the caller and must not decrease; they
/// only serve [`FlowTable::pop_idle`], as recency itself is the order of the calls.
pub struct FlowTable<V> {
    /// Where each client's flow sits in `flows`. SipHash with a random key (std's default),
    /// not a faster unkeyed hash: clients choose the keys, so they must not be able to pick
    /// colliding ones.
    index: HashMap<SocketAddr, usize>,
    /// The flows, dense: removing one moves the last into its place.
    flows: Vec<Flow<V>>,
    /// The most recently used flow, or `NIL` when empty.
    newest: usize,
    /// The least recently used flow, the next to evict, or `NIL` when empty.
    oldest: usize,
    max_flows: usize,
}

/// One flow and its place in the recency list.
struct Flow<V> {
    client: SocketAddr,
    value: V,
    last_used: u64,
    /// The flow used next after this one, or `NIL`.
    newer: usize,
    /// The flow used last before this one, or `NIL`.
    older: usize,
}

/// The end of the recency list.
const NIL: usize = usize::MAX;

// === impl FlowTable ===

impl<V> FlowTable<V> {
    /// An empty table that holds at most `max_flows` flows (at least 1; 0 is taken as 1).
    /// Memory grows with the flows actually held, not with `max_flows`.
    pub fn new(max_flows: usize) -> Self {
        Self {
            index: HashMap::new(),
            flows: Vec::new(),
            newest: NIL,
            oldest: NIL,
            max_flows: max_flows.max(1),
        }
    }

    /// The flow of `client`, if there is one; marks it used at `now` (the most recent).
    pub fn get(&mut self, client: &SocketAddr, now: u64) -> Option<&V> {
        let slot = *self.index.get(client)?;
        self.touch(slot, now);
        Some(&self.flows[slot].value)
    }

    /// Adds the flow of `client`, used at `now` (the most recent).
    ///
    /// Returns the flow it displaced, if any:
    /// - `client` already had a flow: its value is replaced, and the old one comes back as
    ///   `Some((client, old))`; no other flow is evicted.
    /// - The table was full: the least recently used flow is evicted and comes back as
    ///   `Some((its client, its value))`, so the caller can close its socket.
    /// - Otherwise `None`.
    ///
    /// The two cases tell apart by the address returned, which only equals `client` when
    /// the value was replaced.
    pub fn insert(&mut self, client: SocketAddr, value: V, now: u64) -> Option<(SocketAddr, V)> {
        if let Some(&slot) = self.index.get(&client) {
            self.touch(slot, now);
            let old = std::mem::replace(&mut self.flows[slot].value, value);
            return Some((client, old));
        }
        let evicted = match self.flows.len() >= self.max_flows {
            true => self.pop_oldest(),
            false => None,
        };
        let slot = self.flows.len();
        self.flows.push(Flow {
            client,
            value,
            last_used: now,
            newer: NIL,
            older: NIL,
        });
        self.link_newest(slot);
        self.index.insert(client, slot);
        evicted
    }

    /// Removes the flow of `client` and returns its value.
    pub fn remove(&mut self, client: &SocketAddr) -> Option<V> {
        let slot = self.index.remove(client)?;
        Some(self.take(slot).1)
    }

    /// Removes and returns the least recently used flow if it was last used before
    /// `idle_since`; `None` when no flow is that old.
    ///
    /// How a listener expires idle flows without a scan: call it in a loop with
    /// `now - idle_timeout` until it returns `None`. Exact only while ticks never decrease.
    pub fn pop_idle(&mut self, idle_since: u64) -> Option<(SocketAddr, V)> {
        match self.flows.get(self.oldest) {
            Some(flow) if flow.last_used < idle_since => self.pop_oldest(),
            _ => None,
        }
    }

    /// Number of flows held.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// Whether the table holds no flow.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }

    /// The most flows the table holds before it evicts.
    pub fn max_flows(&self) -> usize {
        self.max_flows
    }

    /// Marks the flow in `slot` used at `now`: it moves to the newest end.
    fn touch(&mut self, slot: usize, now: u64) {
        self.flows[slot].last_used = now;
        if self.newest != slot {
            self.unlink(slot);
            self.link_newest(slot);
        }
    }

    /// Removes the least recently used flow.
    fn pop_oldest(&mut self) -> Option<(SocketAddr, V)> {
        let client = self.flows.get(self.oldest)?.client;
        let slot = self.index.remove(&client)?;
        debug_assert_eq!(slot, self.oldest);
        Some(self.take(slot))
    }

    /// Takes the flow in `slot` (already gone from `index`) out of the list and the vector,
    /// moving the last flow into `slot`.
    fn take(&mut self, slot: usize) -> (SocketAddr, V) {
        self.unlink(slot);
        let last = self.flows.len() - 1;
        if slot != last {
            let (newer, older, client) = {
                let moved = &self.flows[last];
                (moved.newer, moved.older, moved.client)
            };
            match newer {
                NIL => self.newest = slot,
                newer => self.flows[newer].older = slot,
            }
            match older {
                NIL => self.oldest = slot,
                older => self.flows[older].newer = slot,
            }
            if let Some(index) = self.index.get_mut(&client) {
                *index = slot;
            }
        }
        let flow = self.flows.swap_remove(slot);
        (flow.client, flow.value)
    }

    /// Unlinks the flow in `slot` from the recency list, joining its neighbours.
    fn unlink(&mut self, slot: usize) {
        let (newer, older) = (self.flows[slot].newer, self.flows[slot].older);
        match newer {
            NIL => self.newest = older,
            newer => self.flows[newer].older = older,
        }
        match older {
            NIL => self.oldest = newer,
            older => self.flows[older].newer = newer,
        }
    }

    /// Links the (unlinked) flow in `slot` in as the newest.
    fn link_newest(&mut self, slot: usize) {
        let previous = self.newest;
        self.flows[slot].newer = NIL;
        self.flows[slot].older = previous;
        match previous {
            NIL => self.oldest = slot,
            previous => self.flows[previous].newer = slot,
        }
        self.newest = slot;
    }
}

impl<V> std::fmt::Debug for FlowTable<V> {
    /// Counts only: the values (sockets, channels) need not be `Debug`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowTable")
            .field("len", &self.flows.len())
            .field("max_flows", &self.max_flows)
            .finish()
    }
}

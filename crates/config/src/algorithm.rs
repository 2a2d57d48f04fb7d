//! The balancing algorithms a target group may run, and their names in the file.

/// Balancing algorithm of a target group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    /// Each eligible target in turn, weights interleaved smoothly.
    RoundRobin,
    /// A random eligible target, in proportion to its weight.
    WeightedRandom,
    /// The eligible target with the fewest requests in flight (per weight); ties at random.
    LeastOutstandingRequests,
    /// The eligible target with the fewest open connections (per weight); ties at random.
    LeastConnections,
    /// Power of two choices over a decaying peak average of latency times load.
    LeastResponseTime,
    /// Power of two choices over requests in flight.
    RandomTwoChoices,
    /// Consistent hashing on the client's IP address.
    IpHash,
    /// Consistent hashing on a header, cookie or query parameter ([`HashKey`]).
    ConsistentHash,
    /// Consistent hashing on a connection's 5-tuple (protocol, client and listener
    /// address and port): the default of L4 groups.
    FlowHash,
}

impl Algorithm {
    /// Every algorithm with its name in the file, for parsing and error messages.
    pub const ALL: [(Algorithm, &'static str); 9] = [
        (Algorithm::RoundRobin, "round_robin"),
        (Algorithm::WeightedRandom, "weighted_random"),
        (
            Algorithm::LeastOutstandingRequests,
            "least_outstanding_requests",
        ),
        (Algorithm::LeastConnections, "least_connections"),
        (Algorithm::LeastResponseTime, "least_response_time"),
        (Algorithm::RandomTwoChoices, "random_two_choices"),
        (Algorithm::IpHash, "ip_hash"),
        (Algorithm::ConsistentHash, "consistent_hash"),
        (Algorithm::FlowHash, "flow_hash"),
    ];

    /// The name used in the file.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(a, _)| *a == self)
            .map_or("round_robin", |(_, n)| n)
    }
}

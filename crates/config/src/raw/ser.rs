//! Serialization of the raw types that accept a shorthand: each is written in the shortest
//! form that reads back the same (`forward = "api"`, `targets = ["127.0.0.1:9001"]`).

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::{RawForward, RawPort, RawTarget};

// === impl RawForward ===

impl Serialize for RawForward {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RawForward::Group(name) => serializer.serialize_str(name),
            RawForward::Weighted(weighted) => weighted.serialize(serializer),
        }
    }
}

// === impl RawPort ===

impl Serialize for RawPort {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            RawPort::Number(port) => serializer.serialize_i64(*port),
            RawPort::Word(word) => serializer.serialize_str(word),
        }
    }
}

// === impl RawTarget ===

impl Serialize for RawTarget {
    /// `"IP:PORT"` when only the address is given, else the table.
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.weight.is_none() && self.zone.is_none() {
            return serializer.serialize_str(&self.address);
        }
        let entries = 1 + usize::from(self.weight.is_some()) + usize::from(self.zone.is_some());
        let mut map = serializer.serialize_map(Some(entries))?;
        map.serialize_entry("address", &self.address)?;
        if let Some(weight) = self.weight {
            map.serialize_entry("weight", &weight)?;
        }
        if let Some(zone) = &self.zone {
            map.serialize_entry("zone", zone)?;
        }
        map.end()
    }
}

//! The hand-written `Deserialize` impls of the raw model: the keys that take either a
//! shorthand or a table (`forward`, a target, a health check's `port`).

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::{RawForward, RawPort, RawTarget, RawWeightedForward};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargetTable {
    address: String,
    weight: Option<i64>,
    zone: Option<String>,
}

// === impl RawPort ===

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PortVisitor;

        impl Visitor<'_> for PortVisitor {
            type Value = RawPort;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a port number or \"traffic-port\"")
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawPort, E> {
                Ok(RawPort::Number(value))
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawPort, E> {
                Ok(RawPort::Number(i64::try_from(value).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawPort, E> {
                Ok(RawPort::Word(value.to_owned()))
            }
        }

        deserializer.deserialize_any(PortVisitor)
    }
}

// === impl RawForward ===

impl<'de> Deserialize<'de> for RawForward {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ForwardVisitor;

        impl<'de> Visitor<'de> for ForwardVisitor {
            type Value = RawForward;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a target group name or a table { groups = [{ name = \"GROUP\", weight = N }] }")
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawForward, E> {
                Ok(RawForward::Group(value.to_owned()))
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawForward, A::Error> {
                RawWeightedForward::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawForward::Weighted)
            }
        }

        deserializer.deserialize_any(ForwardVisitor)
    }
}

// === impl RawTarget ===

impl<'de> Deserialize<'de> for RawTarget {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TargetVisitor;

        impl<'de> Visitor<'de> for TargetVisitor {
            type Value = RawTarget;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "\"IP:PORT\" or a table { address = \"IP:PORT\", weight = N, zone = \"NAME\" }",
                )
            }

            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawTarget, E> {
                Ok(RawTarget {
                    address: value.to_owned(),
                    weight: None,
                    zone: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawTarget, A::Error> {
                let table =
                    RawTargetTable::deserialize(de::value::MapAccessDeserializer::new(map))?;
                Ok(RawTarget {
                    address: table.address,
                    weight: table.weight,
                    zone: table.zone,
                })
            }
        }

        deserializer.deserialize_any(TargetVisitor)
    }
}

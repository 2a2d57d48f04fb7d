//! Target health: which targets may take traffic.
//!
//! Control plane, layer 2: imports `ballast-config` and `ballast-balance`, never the data
//! plane. It decides health and writes it into the `TargetState` atomics that the data plane
//! reads: [`HealthMachine`] (pure) turns check results into states, [`run_checker`] probes one
//! target on the control runtime, and [`OutlierDetector`] (pure) ejects targets that fail
//! real traffic, from the counters the data plane keeps.

mod check;
mod checker;
mod machine;
mod outlier;

pub use check::{check_once, CheckOutcome};
pub use checker::run_checker;
pub use machine::HealthMachine;
pub use outlier::{OutlierDetector, OutlierEvent};

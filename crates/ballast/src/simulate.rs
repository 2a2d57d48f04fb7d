//! `ballast scale simulate`: a scaling group's real policies against a load, in virtual
//! time, written as CSV (a row a minute) and as an SVG chart of capacity against load.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use ballast_scale::simulate::{simulate, Load, Minute, World};
use plotters::prelude::*;

/// What to simulate.
#[derive(Debug, clap::Args)]
pub(crate) struct SimulateArgs {
    /// Configuration file (TOML) with the scaling group.
    #[arg(short, long)]
    config: PathBuf,
    /// The scaling group's name.
    #[arg(long)]
    group: String,
    /// The load, in requests per minute: a CSV file (one value a minute, or `minute,load`
    /// lines), or `step:FROM:TO:AT`, `ramp:FROM:TO:OVER`, `sine:LOW:HIGH:PERIOD`,
    /// `spike:BASE:PEAK:AT:LENGTH` (times as durations, e.g. `step:1000:5000:30m`).
    #[arg(long)]
    load: String,
    /// Length of the run.
    #[arg(long, default_value = "24h")]
    duration: humantime::Duration,
    /// Start of the virtual clock (RFC 3339): scheduled actions run by it.
    #[arg(long, default_value = "2026-01-05T00:00:00Z")]
    start: String,
    /// From launch to in service.
    #[arg(long, default_value = "60s")]
    launch_time: humantime::Duration,
    /// Requests per minute one instance serves at 100% CPU.
    #[arg(long, default_value_t = 1000.0)]
    instance_capacity: f64,
    /// Output files: PREFIX.csv and PREFIX.svg.
    #[arg(long, default_value = "simulation")]
    out: PathBuf,
}

pub(crate) fn main(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let text = ballast_config::read_file(&args.config).map_err(|e| anyhow::anyhow!("{e}"))?;
    let config = match ballast_config::parse(&text) {
        Ok(config) => config,
        Err(errors) => {
            eprintln!("{}: invalid configuration", args.config.display());
            for error in errors.errors() {
                eprintln!("  {error}");
            }
            return Ok(ExitCode::from(crate::EXIT_INVALID_CONFIG));
        }
    };
    let Some(group) = config
        .scaling_groups
        .iter()
        .find(|g| *g.name == *args.group)
    else {
        let known: Vec<&str> = config.scaling_groups.iter().map(|g| &*g.name).collect();
        bail!(
            "no scaling group {:?} (known: {})",
            args.group,
            known.join(", ")
        );
    };
    let load = parse_load(&args.load)?;
    let start: jiff::Timestamp = args
        .start
        .parse()
        .context("--start: not an RFC 3339 time")?;
    let world = World {
        launch_time: args.launch_time.into(),
        instance_capacity: args.instance_capacity,
        ..World::default()
    };
    let (minutes, activities) = simulate(group, &load, &world, start, args.duration.into())?;
    let csv = args.out.with_extension("csv");
    write_csv(&csv, &minutes)?;
    let svg = args.out.with_extension("svg");
    let title = format!("scaling group {}: capacity against load", args.group);
    write_chart(&svg, &title, &minutes, args.instance_capacity)?;
    for a in &activities {
        println!(
            "{}  {:<28} desired {:>3}  {}",
            a.at, a.cause, a.desired, a.reason
        );
    }
    println!(
        "{} activities; wrote {} and {}",
        activities.len(),
        csv.display(),
        svg.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// A load from its command-line form.
fn parse_load(spec: &str) -> anyhow::Result<Load> {
    let parts: Vec<&str> = spec.split(':').collect();
    let n = |i: usize| -> anyhow::Result<f64> {
        parts
            .get(i)
            .context("too few fields")?
            .parse::<f64>()
            .with_context(|| format!("field {} of {spec:?} is not a number", i + 1))
    };
    let d = |i: usize| -> anyhow::Result<Duration> {
        let text = parts.get(i).context("too few fields")?;
        humantime::parse_duration(text)
            .with_context(|| format!("field {} of {spec:?} is not a duration", i + 1))
    };
    let load = match parts[0] {
        "step" if parts.len() == 4 => Load::Step { from: n(1)?, to: n(2)?, at: d(3)? },
        "ramp" if parts.len() == 4 => Load::Ramp { from: n(1)?, to: n(2)?, over: d(3)? },
        "sine" if parts.len() == 4 => Load::Sine { low: n(1)?, high: n(2)?, period: d(3)? },
        "spike" if parts.len() == 5 => Load::Spike { base: n(1)?, peak: n(2)?, at: d(3)?, length: d(4)? },
        _ if Path::new(spec).is_file() => Load::Trace(read_trace(Path::new(spec))?),
        _ => bail!("--load {spec:?}: a CSV file, or step:FROM:TO:AT, ramp:FROM:TO:OVER, sine:LOW:HIGH:PERIOD or spike:BASE:PEAK:AT:LENGTH"),
    };
    Ok(load)
}

/// One load a minute: the last field of each line that has a number there (a header line
/// is skipped).
fn read_trace(path: &Path) -> anyhow::Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let values: Vec<f64> = text
        .lines()
        .filter_map(|line| line.rsplit(',').next()?.trim().parse().ok())
        .collect();
    if values.is_empty() {
        bail!("{}: no load values", path.display());
    }
    Ok(values)
}

fn write_csv(path: &Path, minutes: &[Minute]) -> anyhow::Result<()> {
    let mut out = String::from(
        "time,load_per_minute,desired,in_service,min,max,cpu_percent,forecast_capacity\n",
    );
    for m in minutes {
        let forecast = m.forecast.map(|f| f.to_string()).unwrap_or_default();
        out += &format!(
            "{},{:.1},{},{},{},{},{:.1},{forecast}\n",
            m.at, m.load, m.desired, m.in_service, m.min, m.max, m.cpu
        );
    }
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

/// Capacity (instances, left axis) against load (in instances' worth: load over the
/// capacity of one, so the two read on one scale).
fn write_chart(
    path: &Path,
    title: &str,
    minutes: &[Minute],
    per_instance: f64,
) -> anyhow::Result<()> {
    // Minute i ends (i + 1) / 60 hours in.
    let hour = |i: usize| (i + 1) as f64 / 60.0;
    let top = minutes
        .iter()
        .map(|m| f64::from(m.desired.max(m.max.min(m.desired + 2))).max(m.load / per_instance))
        .fold(1.0, f64::max)
        * 1.1;
    let span = minutes.len().max(1) as f64 / 60.0;
    let root = SVGBackend::new(path, (960, 420)).into_drawing_area();
    let draw = || -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 18))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(48)
            .build_cartesian_2d(0f64..span, 0f64..top)?;
        chart
            .configure_mesh()
            .x_desc("hours")
            .y_desc("instances")
            .draw()?;
        let load = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (hour(i), m.load / per_instance));
        chart
            .draw_series(LineSeries::new(load, BLUE.stroke_width(1)))?
            .label("load (instances' worth)")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], BLUE));
        let desired = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (hour(i), f64::from(m.desired)));
        chart
            .draw_series(LineSeries::new(desired, RED.stroke_width(2)))?
            .label("desired")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], RED));
        let serving = minutes
            .iter()
            .enumerate()
            .map(|(i, m)| (hour(i), f64::from(m.in_service)));
        chart
            .draw_series(LineSeries::new(serving, GREEN.stroke_width(1)))?
            .label("in service")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], GREEN));
        if minutes.iter().any(|m| m.forecast.is_some()) {
            let forecast = minutes
                .iter()
                .enumerate()
                .filter_map(|(i, m)| Some((hour(i), f64::from(m.forecast?))));
            chart
                .draw_series(LineSeries::new(forecast, MAGENTA.stroke_width(1)))?
                .label("forecast capacity")
                .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], MAGENTA));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()?;
        root.present()?;
        Ok(())
    };
    draw().map_err(|e| anyhow::anyhow!("cannot draw {}: {e}", path.display()))
}

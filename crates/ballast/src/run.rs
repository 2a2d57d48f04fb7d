//! `ballast run` and `ballast check`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ballast_config::Config;
use ballast_runtime::Runtime;

use crate::EXIT_INVALID_CONFIG;

/// Validates a file and reports every error; exit 2 when invalid.
pub(crate) fn check(path: &Path) -> ExitCode {
    match ballast_config::load_file(path) {
        Ok(config) => {
            println!(
                "{}: valid ({} listeners, {} target groups)",
                path.display(),
                config.listeners.len(),
                config.target_groups.len()
            );
            ExitCode::SUCCESS
        }
        Err(errors) => {
            report_invalid(path, &errors);
            ExitCode::from(EXIT_INVALID_CONFIG)
        }
    }
}

fn report_invalid(path: &Path, errors: &ballast_config::ConfigErrors) {
    eprintln!("{}: invalid configuration", path.display());
    for error in errors.errors() {
        eprintln!("  {error}");
    }
}

/// Runs the proxy until SIGTERM or SIGINT, then drains and exits 0.
pub(crate) fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let config = match ballast_config::load_file(path) {
        Ok(config) => config,
        Err(errors) => {
            report_invalid(path, &errors);
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
    };
    serve_until_signal(config)?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the runtime, waits for a stop signal, drains. Shared by `run` and `demo`.
pub(crate) fn serve_until_signal(config: Config) -> anyhow::Result<()> {
    let drain_timeout = config.server.drain_timeout;
    let runtime = Runtime::start(config)?;
    tracing::info!(workers = runtime.worker_count(), "ballast started");
    let signal = wait_for_stop_signal()?;
    tracing::info!(signal, drain_timeout = ?drain_timeout, "stopping: no new connections, draining in-flight requests");
    exit_on_second_signal();
    let took = runtime.shutdown();
    tracing::info!(took = ?took, "stopped");
    Ok(())
}

/// A second SIGTERM or SIGINT during the drain means "now": exit at once, as operators
/// expect from pressing Ctrl-C twice.
pub(crate) fn exit_on_second_signal() {
    std::thread::spawn(|| {
        if let Ok(signal) = wait_for_stop_signal() {
            eprintln!("{signal} again: exiting without waiting for the drain");
            std::process::exit(1);
        }
    });
}

/// Blocks until SIGTERM or SIGINT; returns its name.
pub(crate) fn wait_for_stop_signal() -> anyhow::Result<&'static str> {
    let control = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    control.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
        let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
        Ok(tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        })
    })
}

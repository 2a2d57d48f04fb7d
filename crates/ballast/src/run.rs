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
    serve_until_signal(config, Some(path))?;
    Ok(ExitCode::SUCCESS)
}

/// Starts the runtime, waits for a stop signal, drains. Shared by `run` and `demo`. With a
/// config `path`, SIGHUP reloads it: a valid file is applied at once (in-flight requests
/// finish on the old configuration); an invalid one is logged with every error and the
/// running configuration stays.
pub(crate) fn serve_until_signal(config: Config, path: Option<&Path>) -> anyhow::Result<()> {
    let drain_timeout = config.server.drain_timeout;
    // Signal handlers first: a SIGHUP right after "started" must reload, not kill.
    let signal_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    let mut signals = signal_runtime.block_on(async { Signals::new() })?;
    let runtime = Runtime::start(config)?;
    tracing::info!(workers = runtime.worker_count(), "ballast started");
    let signal = loop {
        match signal_runtime.block_on(signals.next()) {
            Signal::Stop(name) => break name,
            Signal::Reload => match path {
                Some(path) => reload(&runtime, path),
                None => tracing::info!("SIGHUP ignored: no configuration file to reload"),
            },
        }
    };
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

/// Reads, validates and applies the configuration file again.
fn reload(runtime: &Runtime, path: &Path) {
    let config = match ballast_config::load_file(path) {
        Ok(config) => config,
        Err(errors) => {
            let errors: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
            tracing::error!(file = %path.display(), errors = ?errors, "reload refused: invalid configuration, the running one stays");
            return;
        }
    };
    match runtime.apply(config) {
        Ok(()) => tracing::info!(file = %path.display(), "configuration reloaded"),
        Err(error) => {
            tracing::error!(file = %path.display(), %error, "reload refused, the running configuration stays")
        }
    }
}

/// A signal the process acts on.
enum Signal {
    /// SIGTERM or SIGINT, by name.
    Stop(&'static str),
    /// SIGHUP.
    Reload,
}

/// The signals `run` listens to, registered once for the life of the process.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers (inside a tokio runtime).
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
        })
    }

    /// The next signal.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop("SIGTERM"),
            _ = self.int.recv() => Signal::Stop("SIGINT"),
            _ = self.hup.recv() => Signal::Reload,
        }
    }
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

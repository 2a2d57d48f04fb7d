//! `ballast run` and `ballast check`.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ballast_config::{Config, Document};
use std::sync::Arc;

use ballast_admin::AdminServer;
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
    let loaded = ballast_config::read_file(path)
        .map_err(|e| e.errors().iter().map(ToString::to_string).collect())
        .and_then(|text| load(&text));
    let (config, document, text) = match loaded {
        Ok(loaded) => loaded,
        Err(errors) => {
            eprintln!("{}: invalid configuration", path.display());
            for error in errors {
                eprintln!("  {error}");
            }
            return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
        }
    };
    serve_until_signal(config, document, path, text)?;
    Ok(ExitCode::SUCCESS)
}

/// Parses a configuration file's text into its document and the typed config.
fn load(text: &str) -> Result<(Config, Document, String), Vec<String>> {
    let messages = |e: ballast_config::ConfigErrors| {
        e.errors()
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
    };
    let document = Document::from_toml(text).map_err(messages)?;
    let config = document.validate().map_err(messages)?;
    Ok((config, document, text.to_owned()))
}

/// Starts the runtime (and the admin API), waits for a stop signal, drains. SIGHUP reloads
/// the file; so does a change of its contents (checked every second, applied once the
/// contents are the same on two checks, so a half-written file is not taken). A valid file
/// is applied at once (in-flight requests finish on the old configuration); an invalid one
/// is logged with every error, counted, and the running configuration stays. SIGUSR1
/// reopens the access log.
fn serve_until_signal(
    config: Config,
    document: Document,
    path: &Path,
    text: String,
) -> anyhow::Result<()> {
    let drain_timeout = config.server.drain_timeout;
    let cluster_config = config.cluster.clone();
    // In a cluster the configuration follows etcd; the file gives only the node's tables.
    let watch = config.server.watch_config && cluster_config.is_none();
    let admin_config = config.admin.clone();
    // Signal handlers first: a SIGHUP right after "started" must reload, not kill.
    let signal_runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the control runtime")?;
    let mut signals = signal_runtime.block_on(async { Signals::new() })?;
    let upgrade_socket = config.server.upgrade_socket.clone();
    let mut inherited = match &upgrade_socket {
        Some(path) => crate::upgrade::take_over(path)?,
        None => crate::upgrade::Inherited::default(),
    };
    let runtime = Arc::new(Runtime::start_inheriting(
        config,
        std::mem::take(&mut inherited.listeners),
    )?);
    let local = document.clone();
    runtime.set_document(document);
    // In a cluster the scaling groups run on the node holding the scaling lease only.
    runtime.set_scaling_leader(cluster_config.is_none());
    runtime.start_scaling();
    let admin = match &admin_config {
        Some(admin) => {
            let socket = inherited
                .admin
                .take()
                .filter(|(bind, _)| *bind == admin.bind)
                .map(|(_, socket)| socket);
            Some(AdminServer::start_on(admin, Arc::clone(&runtime), socket)?)
        }
        None => None,
    };
    let cluster = match &cluster_config {
        Some(cluster) => {
            let me = ballast_runtime::ClusterNode {
                name: cluster.node_name.clone(),
                admin: admin.as_ref().map(|a| a.address().to_string()),
                listeners: runtime
                    .listeners()
                    .into_iter()
                    .map(|(name, address)| (name.0.to_string(), address.to_string()))
                    .collect(),
                joined: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs()),
                address: cluster.advertise,
            };
            Some(ballast_cluster::Cluster::start(
                cluster,
                Arc::clone(&runtime),
                local,
                me,
            )?)
        }
        None => None,
    };
    // Serving: the previous process (if any) may stop accepting now.
    inherited.release_old();
    let handed_over = Arc::new(tokio::sync::Notify::new());
    if let Some(path) = upgrade_socket {
        let admin_socket = match (&admin_config, &admin) {
            (Some(config), Some(server)) => server.socket().ok().map(|s| (config.bind, s)),
            _ => None,
        };
        let notify = Arc::clone(&handed_over);
        crate::upgrade::listen(path, Arc::clone(&runtime), admin_socket, move || {
            notify.notify_one();
        })?;
    }
    // The admin address when there is one; the field is left out otherwise.
    tracing::info!(
        workers = runtime.worker_count(),
        admin = admin.as_ref().map(|a| tracing::field::display(a.address())),
        "ballast started"
    );
    let mut file = FileWatch::new(text);
    let signal = loop {
        let next = signal_runtime.block_on(async {
            tokio::select! {
                signal = signals.next() => Some(signal),
                () = handed_over.notified() => Some(Signal::Stop("upgrade")),
                () = tokio::time::sleep(std::time::Duration::from_secs(1)), if watch => None,
            }
        });
        match next {
            Some(Signal::Stop(name)) => break name,
            Some(Signal::Reload) if cluster.is_some() => {
                tracing::warn!(file = %path.display(), "SIGHUP ignored: in a cluster the configuration lives in etcd (ballast config push, or the admin API); the file's [cluster], [admin] and [server] take effect at the next start");
            }
            Some(Signal::Reload) => {
                if let Some(read) = file.read(path, true) {
                    reload(&runtime, path, read, "sighup");
                }
            }
            Some(Signal::Reopen) => runtime.reopen_access_log(),
            None => {
                if let Some(read) = file.read(path, false) {
                    reload(&runtime, path, read, "file");
                }
            }
        }
    };
    tracing::info!(signal, drain_timeout = ?drain_timeout, "stopping: no new connections, draining in-flight requests");
    exit_on_second_signal();
    // Leave the member list first, so that the cluster stops counting on this node.
    if let Some(cluster) = cluster {
        cluster.stop();
    }
    // After an upgrade the new process answers the admin API on the same socket: this one
    // must not take changes it would forget. After SIGTERM it keeps answering (readiness
    // says "draining") until the drain is over.
    let admin = match admin {
        Some(admin) if signal == "upgrade" => {
            admin.stop();
            None
        }
        other => other,
    };
    let took = runtime.shutdown();
    if let Some(admin) = admin {
        admin.stop();
    }
    tracing::info!(took = ?took, "stopped");
    Ok(())
}

/// The config file's contents as last applied or refused, and a change seen once.
struct FileWatch {
    current: String,
    pending: Option<String>,
    /// The file was last seen over the size limit (refused once, not at every check).
    too_large: bool,
}

impl FileWatch {
    fn new(text: String) -> Self {
        Self {
            current: text,
            pending: None,
            too_large: false,
        }
    }

    /// The file's text when it should be applied: always when `forced` (SIGHUP), else once a
    /// change has been seen unchanged on two checks in a row. The errors of a file over the
    /// size limit, to be refused: when `forced`, or when it has just grown past it.
    fn read(&mut self, path: &Path, forced: bool) -> Option<Result<String, Vec<String>>> {
        // Bounded: a file grown past the size limit is not read whole every second.
        let text = match ballast_config::read_file(path) {
            Ok(text) => text,
            Err(errors) => {
                let io = errors
                    .errors()
                    .iter()
                    .any(|e| matches!(e.kind, ballast_config::ErrorKind::Io { .. }));
                if io {
                    if forced {
                        tracing::error!(file = %path.display(), error = %errors, "reload refused: cannot read the configuration file");
                    }
                    return None;
                }
                let report = forced || !self.too_large;
                self.too_large = true;
                let messages = errors.errors().iter().map(ToString::to_string).collect();
                return report.then_some(Err(messages));
            }
        };
        self.too_large = false;
        if forced {
            self.pending = None;
            self.current.clone_from(&text);
            return Some(Ok(text));
        }
        if text == self.current {
            self.pending = None;
            return None;
        }
        if self.pending.as_ref() == Some(&text) {
            self.pending = None;
            self.current.clone_from(&text);
            return Some(Ok(text));
        }
        self.pending = Some(text);
        None
    }
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

/// Validates and applies the configuration file's text again (or refuses a file that could
/// not be taken at all).
fn reload(runtime: &Runtime, path: &Path, read: Result<String, Vec<String>>, origin: &str) {
    tracing::debug!(file = %path.display(), origin, "reloading the configuration file");
    let text = match read {
        Ok(text) => text,
        Err(errors) => return runtime.refuse(origin, &errors),
    };
    match Document::from_toml(&text) {
        Ok(document) => {
            // Success and refusal are logged (and counted) by the runtime.
            let _outcome = runtime.apply_document(origin, document);
        }
        Err(errors) => {
            let errors: Vec<String> = errors.errors().iter().map(ToString::to_string).collect();
            runtime.refuse(origin, &errors);
        }
    }
}

/// A signal the process acts on.
enum Signal {
    /// SIGTERM or SIGINT, by name.
    Stop(&'static str),
    /// SIGHUP.
    Reload,
    /// SIGUSR1: reopen the access log.
    Reopen,
}

/// The signals `run` listens to, registered once for the life of the process.
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
    usr1: tokio::signal::unix::Signal,
}

impl Signals {
    /// Registers the handlers (inside a tokio runtime).
    fn new() -> anyhow::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
            hup: signal(SignalKind::hangup()).context("cannot listen for SIGHUP")?,
            usr1: signal(SignalKind::user_defined1()).context("cannot listen for SIGUSR1")?,
        })
    }

    /// The next signal.
    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Stop("SIGTERM"),
            _ = self.int.recv() => Signal::Stop("SIGINT"),
            _ = self.hup.recv() => Signal::Reload,
            _ = self.usr1.recv() => Signal::Reopen,
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

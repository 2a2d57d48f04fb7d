//! The `ballast` command: `run`, `check`, `config push|pull`, `echo`, `demo` and
//! `scale simulate`.
//!
//! The imperative shell: command-line parsing, signals, exit codes and wiring. Everything it
//! runs lives in the library crates; errors are `anyhow` only here.

mod config_cmd;
mod demo;
mod echo;
mod run;
mod simulate;
mod upgrade;

use std::path::PathBuf;
use std::process::ExitCode;

use ballast_telemetry::LogFormat;
use clap::{Parser, Subcommand};

/// Ballast, a load balancer.
#[derive(Debug, Parser)]
#[command(
    name = "ballast",
    version,
    about = "Ballast, a load balancer",
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the load balancer with a configuration file.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
        #[command(flatten)]
        log: LogArgs,
    },
    /// Validate a configuration file: exit 0 if valid, 2 with every error if not.
    Check {
        /// Configuration file (TOML).
        #[arg(short, long)]
        config: PathBuf,
    },
    /// The shared configuration of a cluster (the file's `[cluster]` says where etcd is).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Run a small backend that answers with JSON describing each request.
    Echo(echo::EchoArgs),
    /// Auto scaling tools.
    #[command(subcommand)]
    Scale(ScaleCommand),
    /// Start Ballast in front of three echo backends, with the dashboard, and print what to try.
    Demo {
        /// Port of the demo listener on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 8080)]
        port: u16,
        /// Port of the admin API and dashboard on 127.0.0.1 (0 picks a free one).
        #[arg(long, default_value_t = 9901)]
        admin_port: u16,
        #[command(flatten)]
        log: LogArgs,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Validate a file and write it (all but `[cluster]`, `[admin]` and `[server]`) as the
    /// cluster's configuration; every node applies it. Exit 2 if invalid, 3 if the cluster's
    /// configuration changed since `--revision` (or since it was read).
    Push {
        /// Configuration file (TOML) with a `[cluster]` table.
        #[arg(short, long)]
        config: PathBuf,
        /// Write only if the cluster's configuration is still at this revision.
        #[arg(long)]
        revision: Option<i64>,
    },
    /// Print the cluster's configuration (TOML, secrets redacted) and its revision.
    Pull {
        /// Configuration file (TOML) with a `[cluster]` table.
        #[arg(short, long)]
        config: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ScaleCommand {
    /// Run a scaling group's policies against a load in virtual time; write CSV and SVG.
    Simulate(simulate::SimulateArgs),
}

#[derive(Debug, clap::Args)]
struct LogArgs {
    /// Log line format: text or json.
    #[arg(long, default_value = "text")]
    log_format: LogFormat,
    /// Log filter, e.g. `info` or `ballast_http=debug,info` (RUST_LOG wins when set).
    #[arg(long, default_value = "info")]
    log_level: String,
}

/// mimalloc: the proxy allocates a handful of small, short-lived objects per request
/// (header maps, channels); mimalloc's per-thread free lists serve them faster than glibc.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Exit code for an invalid configuration, as `check` documents.
const EXIT_INVALID_CONFIG: u8 = 2;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Check { config } => return run::check(&config),
        Command::Run { config, log } => init_logging(&log).and_then(|()| run::run(&config)),
        Command::Config(ConfigCommand::Push { config, revision }) => {
            config_cmd::push(&config, revision)
        }
        Command::Config(ConfigCommand::Pull { config }) => config_cmd::pull(&config),
        Command::Echo(args) => echo::main(args),
        Command::Scale(ScaleCommand::Simulate(args)) => simulate::main(args),
        Command::Demo {
            port,
            admin_port,
            log,
        } => init_logging(&log).and_then(|()| demo::main(port, admin_port)),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {}", report(&error));
            ExitCode::FAILURE
        }
    }
}

/// An error with its causes on one line, `a: b: c`, as `{:#}` prints it, except that a cause
/// whose message its parent's already ends with is not repeated: our library errors keep
/// their typed `source` *and* say it in their own message (so `to_string()` alone is
/// complete wherever it is shown), which `{:#}` would print twice.
pub(crate) fn report(error: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in error.chain() {
        let message = cause.to_string();
        if text.is_empty() {
            text = message;
        } else if !text.ends_with(&message) {
            text.push_str(": ");
            text.push_str(&message);
        }
    }
    text
}

fn init_logging(args: &LogArgs) -> anyhow::Result<()> {
    ballast_telemetry::init_logging(args.log_format, &args.log_level)?;
    Ok(())
}

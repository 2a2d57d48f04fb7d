//! `ballast config push` and `ballast config pull`: the cluster's shared configuration,
//! written to etcd or read from it, with the `[cluster]` table of a local file saying where
//! etcd is.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use ballast_config::ClusterConfig;

use crate::EXIT_INVALID_CONFIG;

/// Exit code of a push that lost to another change (the cluster's document moved on).
const EXIT_CONFLICT: u8 = 3;

/// Validates `path` whole and writes its shared part to the cluster its `[cluster]` names.
pub(crate) fn push(path: &Path, revision: Option<i64>) -> anyhow::Result<ExitCode> {
    let Some((config, document)) = load(path)? else {
        return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
    };
    let pushed = block_on(ballast_cluster::push(&config, &document, revision))?;
    match pushed {
        Ok(pushed) => {
            println!(
                "{}: pushed as revision {} (replacing {}); every node applies it",
                path.display(),
                pushed.revision,
                pushed.replaced
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e @ ballast_cluster::PushError::Conflict { .. }) => {
            eprintln!("{}: not pushed: {e}", path.display());
            Ok(ExitCode::from(EXIT_CONFLICT))
        }
        Err(e) => Err(e).context("cannot push the configuration"),
    }
}

/// Prints the cluster's shared configuration (TOML), its revision on stderr.
pub(crate) fn pull(path: &Path) -> anyhow::Result<ExitCode> {
    let Some((config, _)) = load(path)? else {
        return Ok(ExitCode::from(EXIT_INVALID_CONFIG));
    };
    match block_on(ballast_cluster::pull(&config))? {
        Ok(Some((document, revision))) => {
            let text = toml::to_string(&document.redacted())
                .context("cannot write the document as TOML")?;
            print!("{text}");
            eprintln!("revision {revision}");
            Ok(ExitCode::SUCCESS)
        }
        Ok(None) => {
            eprintln!("the cluster has no shared configuration yet");
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e).context("cannot pull the configuration"),
    }
}

/// The file's `[cluster]` and document; `None` (reported) when it is invalid or has no
/// `[cluster]`.
fn load(path: &Path) -> anyhow::Result<Option<(ClusterConfig, ballast_config::Document)>> {
    let text = match ballast_config::read_file(path) {
        Ok(text) => text,
        Err(errors) => return invalid(path, &errors),
    };
    let document = match ballast_config::Document::from_toml(&text) {
        Ok(document) => document,
        Err(errors) => return invalid(path, &errors),
    };
    let config = match document.validate() {
        Ok(config) => config,
        Err(errors) => return invalid(path, &errors),
    };
    match config.cluster {
        Some(cluster) => Ok(Some((cluster, document))),
        None => {
            eprintln!("{}: no [cluster] table: nowhere to push to", path.display());
            Ok(None)
        }
    }
}

fn invalid<T>(path: &Path, errors: &ballast_config::ConfigErrors) -> anyhow::Result<Option<T>> {
    eprintln!("{}: invalid configuration", path.display());
    for error in errors.errors() {
        eprintln!("  {error}");
    }
    Ok(None)
}

fn block_on<F: std::future::Future>(future: F) -> anyhow::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    Ok(runtime.block_on(future))
}

//! The `command` provider: user scripts launch, terminate and list instances, so any cloud
//! CLI or orchestrator can be driven. A script runs under `/bin/sh -c`, with `{name}`,
//! `{zone}` and `{id}` filled in (and the same in `BALLAST_INSTANCE_NAME`, `BALLAST_ZONE`,
//! `BALLAST_INSTANCE_ID`), within the timeout.
//!
//! - `launch` prints the new instance as JSON: `{"id": "i-123", "address": "10.0.0.5:8080"}`
//!   (and optionally `"zone"`).
//! - `terminate` ends the instance it is given; exit status 0 means done.
//! - `list` prints the running instances as a JSON array of the same objects.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use serde::Deserialize;
use tokio::process::Command;

use crate::provider::{Launched, Provider, ProviderError, ProviderFuture};

/// Scripts as a provider.
pub struct CommandProvider {
    launch: String,
    terminate: String,
    list: Option<String>,
    timeout: Duration,
}

#[derive(Deserialize)]
struct Printed {
    id: String,
    address: SocketAddr,
    zone: Option<String>,
}

impl From<Printed> for Launched {
    fn from(p: Printed) -> Self {
        Launched {
            id: p.id,
            address: p.address,
            zone: p.zone,
        }
    }
}

impl CommandProvider {
    /// A provider running these scripts, each within `timeout`.
    pub fn new(launch: &str, terminate: &str, list: Option<&str>, timeout: Duration) -> Self {
        Self {
            launch: launch.to_owned(),
            terminate: terminate.to_owned(),
            list: list.map(str::to_owned),
            timeout,
        }
    }

    /// Runs `script` with the values filled in; its standard output when it exits 0.
    async fn run(
        &self,
        what: &str,
        script: &str,
        values: &[(&str, &str, &str)],
    ) -> Result<String, ProviderError> {
        let mut line = script.to_owned();
        let mut command = Command::new("/bin/sh");
        for (placeholder, env, value) in values {
            // Quoted for the shell: an id comes from what a script printed, and must not
            // run as a command.
            line = line.replace(placeholder, &shell_quote(value));
            command.env(env, value);
        }
        command
            .arg("-c")
            .arg(&line)
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let output = tokio::time::timeout(self.timeout, command.output())
            .await
            .map_err(|_| ProviderError::Timeout(format!("{what} script {line:?}")))?
            .map_err(|source| ProviderError::Io {
                what: format!("running the {what} script"),
                source,
            })?;
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(ProviderError::Script(format!(
                "{what} script {line:?} failed ({}): {}",
                output.status,
                stderr.trim().chars().take(300).collect::<String>()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }
}

/// `value` as one shell word: in single quotes, each `'` written as `'\''`.
fn shell_quote(value: &str) -> String {
    format!("'{}'", value.replace('\'', "'\\''"))
}

fn parse<T: serde::de::DeserializeOwned>(what: &str, text: &str) -> Result<T, ProviderError> {
    serde_json::from_str(text.trim()).map_err(|e| {
        ProviderError::Script(format!(
            "the {what} script printed {:?}, not the JSON expected: {e}",
            text.trim().chars().take(200).collect::<String>()
        ))
    })
}

impl Provider for CommandProvider {
    fn launch<'a>(
        &'a mut self,
        name: &'a str,
        zone: Option<&'a str>,
    ) -> ProviderFuture<'a, Result<Launched, ProviderError>> {
        Box::pin(async move {
            let values = [
                ("{name}", "BALLAST_INSTANCE_NAME", name),
                ("{zone}", "BALLAST_ZONE", zone.unwrap_or("")),
            ];
            let printed = self.run("launch", &self.launch, &values).await?;
            parse::<Printed>("launch", &printed).map(Launched::from)
        })
    }

    fn terminate<'a>(&'a mut self, id: &'a str) -> ProviderFuture<'a, Result<(), ProviderError>> {
        Box::pin(async move {
            self.run(
                "terminate",
                &self.terminate,
                &[("{id}", "BALLAST_INSTANCE_ID", id)],
            )
            .await
            .map(|_| ())
        })
    }

    fn list(&mut self) -> ProviderFuture<'_, Result<Option<Vec<Launched>>, ProviderError>> {
        Box::pin(async move {
            let Some(script) = &self.list else {
                return Ok(None);
            };
            let printed = self.run("list", script, &[]).await?;
            let all: Vec<Printed> = parse("list", &printed)?;
            Ok(Some(all.into_iter().map(Launched::from).collect()))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn scripts_launch_list_and_terminate_with_their_values() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let launch = format!("echo {{name}} >> {d}/launched; echo '{{\"id\": \"id-{{name}}\", \"address\": \"127.0.0.1:9001\", \"zone\": \"'$BALLAST_ZONE'\"}}'");
        let terminate = format!("echo {{id}} >> {d}/terminated");
        let list = "echo '[{\"id\": \"a\", \"address\": \"127.0.0.1:9001\"}]'";
        let mut p = CommandProvider::new(&launch, &terminate, Some(list), Duration::from_secs(5));
        let got = p.launch("web-1", Some("b")).await.unwrap();
        assert_eq!(
            got,
            Launched {
                id: "id-web-1".to_owned(),
                address: "127.0.0.1:9001".parse().unwrap(),
                zone: Some("b".to_owned())
            }
        );
        p.terminate("id-web-1").await.unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join("terminated")).unwrap(),
            "id-web-1\n"
        );
        assert_eq!(p.list().await.unwrap().unwrap().len(), 1);
        let mut none = CommandProvider::new("true", "true", None, Duration::from_secs(5));
        assert!(none.list().await.unwrap().is_none());
    }

    #[tokio::test]
    async fn values_reach_the_script_as_single_words_never_as_commands() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("pwned");
        let mut p = CommandProvider::new(
            "true",
            "printf '%s' {id} > /dev/null",
            None,
            Duration::from_secs(5),
        );
        let evil = format!("x'; touch {}; echo '", marker.display());
        p.terminate(&evil).await.unwrap();
        p.terminate(&format!("$(touch {})", marker.display()))
            .await
            .unwrap();
        assert!(!marker.exists(), "an id ran as a command");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
    }

    #[tokio::test]
    async fn failures_say_what_the_script_did() {
        let mut failing = CommandProvider::new(
            "echo no capacity >&2; exit 3",
            "exit 1",
            None,
            Duration::from_secs(5),
        );
        let error = failing.launch("x", None).await.unwrap_err().to_string();
        assert!(
            error.contains("launch script") && error.contains("no capacity"),
            "{error}"
        );
        assert!(failing.terminate("x").await.is_err());
        let mut garbled = CommandProvider::new("echo hello", "true", None, Duration::from_secs(5));
        let error = garbled.launch("x", None).await.unwrap_err().to_string();
        assert!(error.contains("printed \"hello\""), "{error}");
        let mut slow = CommandProvider::new("sleep 5", "true", None, Duration::from_millis(100));
        assert!(matches!(
            slow.launch("x", None).await,
            Err(ProviderError::Timeout(_))
        ));
    }
}

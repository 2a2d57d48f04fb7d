//! A scaling group's providers. A reload may change the group's `provider`: new instances
//! then come from the new one, while the instances of the earlier one are still stopped,
//! watched and measured by the provider that launched them, until the group has replaced
//! them (see `Fleet::mark_outdated`). A provider with no instance left is dropped.

use std::collections::{BTreeMap, HashMap};

use ballast_config::{ProviderConfig, ScalingGroupConfig};
use ballast_scale::command::CommandProvider;
use ballast_scale::process::ProcessProvider;
use ballast_scale::provider::{Launched, Provider, ProviderError};

/// The providers of one group, by generation; the highest is the current one.
pub(super) struct Providers {
    current: u32,
    config: ProviderConfig,
    providers: BTreeMap<u32, Box<dyn Provider>>,
    /// Each instance's provider generation, by provider id.
    owners: HashMap<String, u32>,
}

impl Providers {
    pub(super) fn new(config: &ScalingGroupConfig) -> Self {
        Self {
            current: 0,
            config: config.provider.clone(),
            providers: BTreeMap::from([(0, provider_for(&config.provider))]),
            owners: HashMap::new(),
        }
    }

    /// Takes `config`'s provider; true when it differs from the current one (which stays,
    /// for the instances it launched).
    pub(super) fn update(&mut self, config: &ProviderConfig) -> bool {
        if *config == self.config {
            return false;
        }
        self.current += 1;
        self.config = config.clone();
        self.providers
            .insert(self.current, provider_for(&self.config));
        true
    }

    fn current(&mut self) -> &mut Box<dyn Provider> {
        self.providers
            .entry(self.current)
            .or_insert_with(|| provider_for(&self.config))
    }

    /// The instances the current provider runs (after a restart), taken as its own.
    pub(super) async fn list(&mut self) -> Result<Option<Vec<Launched>>, ProviderError> {
        let found = self.current().list().await?;
        for instance in found.iter().flatten() {
            self.owners.insert(instance.id.clone(), self.current);
        }
        Ok(found)
    }

    /// Launches with the current provider.
    pub(super) async fn launch(
        &mut self,
        name: &str,
        zone: Option<&str>,
    ) -> Result<Launched, ProviderError> {
        let generation = self.current;
        let launched = self.current().launch(name, zone).await?;
        self.owners.insert(launched.id.clone(), generation);
        Ok(launched)
    }

    /// Terminates `id` with the provider that launched it.
    pub(super) async fn terminate(&mut self, id: &str) -> Result<(), ProviderError> {
        let generation = self.owners.get(id).copied().unwrap_or(self.current);
        let provider = match self.providers.get_mut(&generation) {
            Some(provider) => provider,
            None => self.current(),
        };
        provider.terminate(id).await?;
        self.owners.remove(id);
        Ok(())
    }

    /// Instances that exited, from every provider.
    pub(super) fn exited(&mut self) -> Vec<String> {
        let gone: Vec<String> = self
            .providers
            .values_mut()
            .flat_map(|p| p.exited())
            .collect();
        for id in &gone {
            self.owners.remove(id);
        }
        gone
    }

    /// The CPU use of `id`, from the provider that launched it.
    pub(super) fn cpu(&mut self, id: &str) -> Option<f64> {
        let generation = self.owners.get(id).copied()?;
        self.providers.get_mut(&generation)?.cpu(id)
    }

    /// Drops earlier providers none of whose instances is left.
    pub(super) fn drop_unused(&mut self) {
        let (current, owners) = (self.current, &self.owners);
        self.providers.retain(|generation, _| {
            *generation == current || owners.values().any(|g| g == generation)
        });
    }
}

fn provider_for(config: &ProviderConfig) -> Box<dyn Provider> {
    match config {
        ProviderConfig::Process {
            command,
            ports,
            stop_timeout,
            log_dir,
        } => Box::new(ProcessProvider::new(
            command,
            ports.clone(),
            *stop_timeout,
            log_dir.clone(),
        )),
        ProviderConfig::Command {
            launch,
            terminate,
            list,
            timeout,
        } => Box::new(CommandProvider::new(
            launch,
            terminate,
            list.as_deref(),
            *timeout,
        )),
    }
}

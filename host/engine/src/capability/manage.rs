//! The engine's capability commands: grant and revoke origins, set and unset configuration values
//! and secrets, show what a function holds, and replace it all from a declarative file.
//!
//! Every change is one write; the next attempt of the function reads it, in this process or any
//! other on the same database. Secret values go in sealed and never come out of these calls.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Error, GrantPattern, Holdings, MAX_ENTRIES, SecretKey, check_function, check_key, check_value,
};
use crate::engine::{Keel, Result};
use crate::store::CapabilityChange;

/// What a function holds, as shown to operators: secrets by name only.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionCapabilities {
    /// The function.
    pub function: String,
    /// Whether any deployed module provides a function of that name.
    pub deployed: bool,
    /// Its grant patterns.
    pub grants: Vec<String>,
    /// Its configuration values.
    pub config: BTreeMap<String, String>,
    /// The names of its secrets (never their values).
    pub secrets: Vec<String>,
}

/// The outcome of a change, with what the operator should know.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Changed {
    /// Warnings, e.g. that no deployed module provides the function yet.
    pub warnings: Vec<String>,
    /// The secret key file this change created, if it had to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_created: Option<String>,
}

/// A function's whole capability set, as a declarative file gives it (secrets in clear, to be sealed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Declared {
    /// Grant patterns.
    pub grants: Vec<String>,
    /// Configuration values.
    pub config: BTreeMap<String, String>,
    /// Secret values by name.
    pub secrets: BTreeMap<String, String>,
}

impl Keel {
    async fn change(&self, function: &str, change: CapabilityChange) -> Result<(bool, Changed)> {
        let now = self.shared().clock.now_ms();
        let done = self.store().change_capability(change, now).await?;
        let mut changed = Changed::default();
        if !self.is_deployed(function).await? {
            changed.warnings.push(format!(
                "no deployed module provides a function named {function} yet; this applies once one does"
            ));
        }
        Ok((done, changed))
    }

    async fn is_deployed(&self, function: &str) -> Result<bool> {
        Ok(self.functions().await?.iter().any(|f| f.name == function))
    }

    fn not_held(function: &str, what: &'static str, name: &str, held: Vec<String>) -> Error {
        Error::NotHeld {
            function: function.to_owned(),
            what,
            name: name.to_owned(),
            held: if held.is_empty() {
                " (it holds none)".to_owned()
            } else {
                format!(" (it holds: {})", held.join(", "))
            },
        }
    }

    /// Lets `function` send HTTP requests to the origins `pattern` names.
    pub async fn grant(&self, function: &str, pattern: &str) -> Result<Changed> {
        check_function(function)?;
        let pattern: GrantPattern = pattern.parse()?;
        let (_, changed) = self
            .change(
                function,
                CapabilityChange::Grant {
                    function: function.to_owned(),
                    pattern: pattern.to_string(),
                },
            )
            .await?;
        Ok(changed)
    }

    /// Withdraws a grant.
    pub async fn revoke(&self, function: &str, pattern: &str) -> Result<()> {
        check_function(function)?;
        let pattern: GrantPattern = pattern.parse()?;
        let (removed, _) = self
            .change(
                function,
                CapabilityChange::Revoke {
                    function: function.to_owned(),
                    pattern: pattern.to_string(),
                },
            )
            .await?;
        if !removed {
            let held = self.store().holdings(function).await?.grants;
            return Err(Self::not_held(function, "grant", &pattern.to_string(), held).into());
        }
        Ok(())
    }

    /// Sets configuration value `key` of `function`.
    pub async fn set_config(&self, function: &str, key: &str, value: &str) -> Result<Changed> {
        check_function(function)?;
        check_key("configuration key", key)?;
        check_value(format!("configuration value {key}"), value.as_bytes())?;
        let held = self.store().holdings(function).await?;
        if held.secrets.contains_key(key) {
            return Err(Error::BadName {
                what: "configuration key",
                name: key.to_owned(),
                reason: format!("{function} holds a secret of that name; both would be the same environment variable"),
            }
            .into());
        }
        check_count(function, &held, usize::from(!held.config.contains_key(key)))?;
        let (_, changed) = self
            .change(
                function,
                CapabilityChange::SetConfig {
                    function: function.to_owned(),
                    key: key.to_owned(),
                    value: value.to_owned(),
                },
            )
            .await?;
        Ok(changed)
    }

    /// Removes configuration value `key` of `function`.
    pub async fn unset_config(&self, function: &str, key: &str) -> Result<()> {
        check_function(function)?;
        let (removed, _) = self
            .change(
                function,
                CapabilityChange::UnsetConfig {
                    function: function.to_owned(),
                    key: key.to_owned(),
                },
            )
            .await?;
        if !removed {
            let held = self.store().holdings(function).await?.config;
            return Err(Self::not_held(
                function,
                "configuration value",
                key,
                held.into_keys().collect(),
            )
            .into());
        }
        Ok(())
    }

    /// Seals `value` and stores it as secret `name` of `function`, creating the key file if there
    /// is no key yet.
    pub async fn set_secret(&self, function: &str, name: &str, value: &str) -> Result<Changed> {
        check_function(function)?;
        check_key("secret name", name)?;
        check_value(format!("secret {name}"), value.as_bytes())?;
        let held = self.store().holdings(function).await?;
        if held.config.contains_key(name) {
            return Err(Error::BadName {
                what: "secret name",
                name: name.to_owned(),
                reason: format!("{function} holds a configuration value of that name; both would be the same environment variable"),
            }
            .into());
        }
        check_count(
            function,
            &held,
            usize::from(!held.secrets.contains_key(name)),
        )?;
        let source = &self.shared().config.secret_key;
        let (key, created) = SecretKey::load_or_create(source)?;
        let sealed = key.seal(function, name, value.as_bytes())?;
        let (_, mut changed) = self
            .change(
                function,
                CapabilityChange::SetSecret {
                    function: function.to_owned(),
                    name: name.to_owned(),
                    sealed,
                },
            )
            .await?;
        if created {
            changed.key_created = Some(source.file.display().to_string());
        }
        Ok(changed)
    }

    /// Removes secret `name` of `function`.
    pub async fn unset_secret(&self, function: &str, name: &str) -> Result<()> {
        check_function(function)?;
        let (removed, _) = self
            .change(
                function,
                CapabilityChange::UnsetSecret {
                    function: function.to_owned(),
                    name: name.to_owned(),
                },
            )
            .await?;
        if !removed {
            let held = self.store().holdings(function).await?.secrets;
            return Err(
                Self::not_held(function, "secret", name, held.into_keys().collect()).into(),
            );
        }
        Ok(())
    }

    /// What `function` holds (secret names only).
    pub async fn capabilities(&self, function: &str) -> Result<FunctionCapabilities> {
        check_function(function)?;
        let held = self.store().holdings(function).await?;
        Ok(FunctionCapabilities {
            function: function.to_owned(),
            deployed: self.is_deployed(function).await?,
            grants: held.grants,
            config: held.config,
            secrets: held.secrets.into_keys().collect(),
        })
    }

    /// Every grant of every function, as `(function, pattern)`.
    pub async fn grants(&self) -> Result<Vec<(String, String)>> {
        Ok(self.store().all_grants().await?)
    }

    /// Makes `function`'s grants and configuration exactly those `declared`, and sets its secrets.
    /// Everything is checked before anything is written.
    pub async fn declare_capabilities(
        &self,
        function: &str,
        declared: Declared,
    ) -> Result<Changed> {
        check_function(function)?;
        let mut grants = Vec::with_capacity(declared.grants.len());
        for pattern in &declared.grants {
            grants.push(pattern.parse::<GrantPattern>()?.to_string());
        }
        for (key, value) in &declared.config {
            check_key("configuration key", key)?;
            check_value(format!("configuration value {key}"), value.as_bytes())?;
            if declared.secrets.contains_key(key) {
                return Err(Error::BadName {
                    what: "configuration key",
                    name: key.clone(),
                    reason: "it is declared as a secret too".to_owned(),
                }
                .into());
            }
        }
        for (name, value) in &declared.secrets {
            check_key("secret name", name)?;
            check_value(format!("secret {name}"), value.as_bytes())?;
        }
        let held = self.store().holdings(function).await?;
        let kept_secrets = held
            .secrets
            .keys()
            .filter(|n| !declared.secrets.contains_key(*n))
            .count();
        let count = declared.config.len() + declared.secrets.len() + kept_secrets;
        if count > MAX_ENTRIES {
            return Err(Error::TooMany {
                function: function.to_owned(),
                count,
                limit: MAX_ENTRIES,
            }
            .into());
        }
        let mut sealed = BTreeMap::new();
        let mut created = false;
        if !declared.secrets.is_empty() {
            let (key, made) = SecretKey::load_or_create(&self.shared().config.secret_key)?;
            created = made;
            for (name, value) in &declared.secrets {
                sealed.insert(name.clone(), key.seal(function, name, value.as_bytes())?);
            }
        }
        let (_, mut changed) = self
            .change(
                function,
                CapabilityChange::Replace {
                    function: function.to_owned(),
                    grants,
                    config: declared.config,
                    secrets: sealed,
                },
            )
            .await?;
        if created {
            changed.key_created = Some(self.shared().config.secret_key.file.display().to_string());
        }
        Ok(changed)
    }
}

/// Refuses a change that would give `function` more than [`MAX_ENTRIES`] values and secrets.
fn check_count(function: &str, held: &Holdings, adding: usize) -> Result<(), Error> {
    let count = held.config.len() + held.secrets.len() + adding;
    if count > MAX_ENTRIES {
        return Err(Error::TooMany {
            function: function.to_owned(),
            count,
            limit: MAX_ENTRIES,
        });
    }
    Ok(())
}

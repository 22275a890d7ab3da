//! The module registry: deploys (validate, digest, store, activate), and loads components by digest
//! through an in-memory map and an on-disk cache of compiled artefacts.
//!
//! A module that fails validation is never stored, so a bad deploy leaves the active versions as they
//! were. Compiled artefacts are only ever read from the cache directory Keel itself writes.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;
use wasmtime::component::Component;
use wasmtime_wasi::WasiCtxBuilder;

use super::runtime::{HostState, Runtime};
use super::{Error, Result};
use crate::capability::outgoing::Policy;
use crate::clock::SharedClock;
use crate::ids::Digest;
use crate::store::Store;
use crate::wit::activity::ActivityModulePre;
use crate::wit::orchestrator::OrchestratorModulePre;
use crate::wit::orchestrator::keel::workflow::types::FunctionKind;

const ORCHESTRATORS: &str = "keel:workflow/orchestrators@0.1.0";
const ACTIVITIES: &str = "keel:workflow/activities@0.1.0";
const MANIFEST: &str = "keel:workflow/manifest@0.1.0";

/// A compiled module ready to instantiate.
pub struct Loaded {
    /// Its digest.
    pub digest: String,
    pub orchestrator: Option<OrchestratorModulePre<HostState>>,
    pub activity: Option<ActivityModulePre<HostState>>,
}

impl std::fmt::Debug for Loaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Loaded")
            .field("digest", &self.digest)
            .finish()
    }
}

/// What a deploy stored.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Deployed {
    /// Digest of the module.
    pub digest: String,
    /// The version label the deploy gave it, or, for bytes already deployed without a label, the
    /// label they were first deployed with.
    pub version: String,
    /// Every version label the module carries now, oldest first.
    pub labels: Vec<String>,
    /// Whether these bytes were deployed before (then only a new label, if any, was recorded).
    pub already_deployed: bool,
    /// `(name, kind)` of every function it exports.
    pub functions: Vec<(String, String)>,
}

/// Deployed modules and their compiled forms.
pub struct Registry {
    runtime: Arc<Runtime>,
    store: Store,
    clock: SharedClock,
    cache_dir: Option<PathBuf>,
    /// One cell per digest, so that concurrent loads of a module compile it once.
    loaded: Mutex<HashMap<String, Arc<OnceCell<Arc<Loaded>>>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("cache_dir", &self.cache_dir)
            .finish()
    }
}

impl Registry {
    /// A registry over `store`, caching compiled artefacts in `cache_dir` when given.
    pub fn new(
        runtime: Arc<Runtime>,
        store: Store,
        clock: SharedClock,
        cache_dir: Option<PathBuf>,
    ) -> Self {
        Self {
            runtime,
            store,
            clock,
            cache_dir,
            loaded: Mutex::new(HashMap::new()),
        }
    }

    /// The runtime modules run in.
    pub fn runtime(&self) -> &Arc<Runtime> {
        &self.runtime
    }

    /// Validates `bytes`, stores them by digest (bytes already stored are not stored again) and,
    /// with `activate`, makes them the active version of every function their manifest lists.
    ///
    /// `version` labels the module; bytes already deployed keep their labels and gain this one.
    /// Without one, new bytes get the next number of their functions' own counter (one more than the
    /// versions of whichever of their functions has the most, skipping labels those functions
    /// already use), and bytes already deployed keep the label they have.
    pub async fn deploy(
        &self,
        bytes: Vec<u8>,
        version: Option<String>,
        activate: bool,
    ) -> Result<Deployed> {
        let digest = Digest::of(&bytes).as_str().to_owned();
        let loaded = self.compile(&digest, &bytes).await?;
        let functions = self.describe(&loaded).await?;
        if let Some(label) = &version {
            self.label_free(&digest, label, &functions).await?;
        }
        let mut labels = self.store.module_labels(&digest).await?;
        let already_deployed = !labels.is_empty();
        let version = match (version, labels.first()) {
            (Some(v), _) => v,
            (None, Some(first)) => first.clone(),
            (None, None) => self.next_label(&functions).await?,
        };
        self.store
            .deploy(
                &digest,
                bytes,
                &version,
                functions.clone(),
                activate,
                self.clock.now_ms(),
            )
            .await?;
        self.remember(loaded);
        if !labels.contains(&version) {
            labels.push(version.clone());
        }
        Ok(Deployed {
            digest,
            version,
            labels,
            already_deployed,
            functions,
        })
    }

    /// Refuses `label` when it already names another module providing one of `functions`: the label
    /// would no longer say which code `activate NAME@LABEL` runs.
    async fn label_free(
        &self,
        digest: &str,
        label: &str,
        functions: &[(String, String)],
    ) -> Result<()> {
        for (name, kind) in functions {
            let versions = self.store.function_versions(name, kind).await?;
            if let Some(other) = versions
                .iter()
                .find(|v| v.digest != digest && v.labels.iter().any(|l| l == label))
            {
                return Err(Error::LabelTaken {
                    label: label.to_owned(),
                    function: name.clone(),
                    digest: other.digest[..12.min(other.digest.len())].to_owned(),
                });
            }
        }
        Ok(())
    }

    /// The default label of new bytes providing `functions`: the next number of the function with
    /// the most versions, past any label (or equal version, `2` = `2.0.0`) they already carry.
    async fn next_label(&self, functions: &[(String, String)]) -> Result<String> {
        let mut count = 0;
        let mut taken = Vec::new();
        for (name, kind) in functions {
            let versions = self.store.function_versions(name, kind).await?;
            count = count.max(versions.len());
            taken.extend(versions.into_iter().flat_map(|v| v.labels));
        }
        let taken_versions: Vec<_> = taken
            .iter()
            .filter_map(|l| crate::labels::label_version(l))
            .collect();
        let mut next = count + 1;
        while taken.contains(&next.to_string())
            || crate::labels::label_version(&next.to_string())
                .is_some_and(|v| taken_versions.contains(&v))
        {
            next += 1;
        }
        Ok(next.to_string())
    }

    /// Compiles and checks `bytes` without storing or activating them (for replay checks), and
    /// returns them with the `(name, kind)` of the functions their manifest lists.
    pub async fn compile_unstored(&self, bytes: &[u8]) -> Result<(Loaded, Vec<(String, String)>)> {
        let digest = Digest::of(bytes).as_str().to_owned();
        let loaded = self.compile(&digest, bytes).await?;
        let functions = self.describe(&loaded).await?;
        Ok((loaded, functions))
    }

    /// The compiled module with `digest`, from memory, the disk cache or the store.
    /// Concurrent loads of one module wait for a single compilation (a deploy under load would
    /// otherwise compile the new module once per waiting activity attempt).
    pub async fn load(&self, digest: &str) -> Result<Arc<Loaded>> {
        let cell = self.lock().entry(digest.to_owned()).or_default().clone();
        cell.get_or_try_init(|| async {
            let bytes = self
                .store
                .module_bytes(digest)
                .await?
                .ok_or_else(|| Error::NotDeployed(digest.to_owned()))?;
            // A damaged row must not be compiled, nor cached under the digest of the real module.
            if Digest::of(&bytes).as_str() != digest {
                return Err(Error::Damaged(digest.to_owned()));
            }
            Ok(Arc::new(self.compile(digest, &bytes).await?))
        })
        .await
        .cloned()
    }

    /// Drops the compiled form of a removed module, from memory and from the disk cache.
    pub fn forget(&self, digest: &str) {
        self.lock().remove(digest);
        if let Some(path) = self.cache_path(digest)
            && let Err(e) = std::fs::remove_file(&path)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %path.display(), error = %e, "could not remove a compiled-module cache entry");
        }
    }

    fn cache_path(&self, digest: &str) -> Option<PathBuf> {
        let engine = self.runtime.engine();
        self.cache_dir.as_ref().map(|dir| {
            let mut hasher = std::collections::hash_map::DefaultHasher::new();
            engine.precompile_compatibility_hash().hash(&mut hasher);
            dir.join(format!("{digest}-{:016x}.cwasm", hasher.finish()))
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<Arc<Loaded>>>>> {
        // A poisoned map only means another thread panicked mid-insert; the map itself is intact.
        self.loaded.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn remember(&self, loaded: Loaded) -> Arc<Loaded> {
        let cell = self
            .lock()
            .entry(loaded.digest.clone())
            .or_default()
            .clone();
        // If a concurrent load finished first, keep its (identical) module.
        let loaded = Arc::new(loaded);
        match cell.set(loaded.clone()) {
            Ok(()) => loaded,
            Err(_) => cell.get().cloned().unwrap_or(loaded),
        }
    }

    /// Compiles (or loads from the cache) and checks the component's shape.
    async fn compile(&self, digest: &str, bytes: &[u8]) -> Result<Loaded> {
        check_header(bytes)?;
        let component = self.component(digest, bytes).await?;
        let engine = self.runtime.engine();
        let exports: Vec<String> = component
            .component_type()
            .exports(engine)
            .map(|(name, _)| name.to_owned())
            .collect();
        let has = |name: &str| exports.iter().any(|e| e == name);
        if !has(MANIFEST) || !(has(ORCHESTRATORS) || has(ACTIVITIES)) {
            return Err(Error::WrongWorld(exports.join(", ")));
        }
        let pre = self
            .runtime
            .linker()
            .instantiate_pre(&component)
            .map_err(|e| Error::UnsupportedImport(format!("{e:#}")))?;
        let orchestrator = if has(ORCHESTRATORS) {
            Some(
                OrchestratorModulePre::new(pre.clone())
                    .map_err(|e| Error::WrongWorld(format!("{e:#}")))?,
            )
        } else {
            None
        };
        let activity = if has(ACTIVITIES) {
            Some(ActivityModulePre::new(pre).map_err(|e| Error::WrongWorld(format!("{e:#}")))?)
        } else {
            None
        };
        Ok(Loaded {
            digest: digest.to_owned(),
            orchestrator,
            activity,
        })
    }

    async fn component(&self, digest: &str, bytes: &[u8]) -> Result<Component> {
        let engine = self.runtime.engine().clone();
        let path = self.cache_path(digest);
        if let Some(path) = &path
            && path.exists()
        {
            match deserialize(&engine, path) {
                Ok(component) => return Ok(component),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring an unreadable compiled-module cache entry")
                }
            }
        }
        let owned = bytes.to_vec();
        let component = tokio::task::spawn_blocking(move || Component::new(&engine, owned))
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
            .map_err(|e| Error::Invalid(format!("{e:#}")))?;
        if let Some(path) = &path
            && let Err(e) = write_cache(&component, path)
        {
            tracing::warn!(path = %path.display(), error = %e, "could not write the compiled-module cache");
        }
        Ok(component)
    }

    /// Calls the module's manifest and checks it against the exports.
    async fn describe(&self, loaded: &Loaded) -> Result<Vec<(String, String)>> {
        let limits = self.runtime.limits();
        let state = HostState::new(
            WasiCtxBuilder::new().build(),
            limits,
            limits.manifest_cpu_ms,
            Policy::Refused {
                who: "manifest call".to_owned(),
            },
        );
        let mut store = self.runtime.store(state);
        let wall = std::time::Duration::from_millis(limits.manifest_wall_ms);
        let meter = store.data().cpu.clone();
        let call = super::cpu::Metered::new(
            async { self.call_manifest(loaded, &mut store).await },
            meter,
        );
        // A manifest that waits on something outside Keel (a sleep) must not hold a deploy forever.
        let listed = tokio::time::timeout(wall, call).await.map_err(|_| {
            Error::Manifest(format!(
                "the manifest call did not return within {} ms",
                limits.manifest_wall_ms
            ))
        })??;
        let listed = listed.map_err(|e| {
            let failure = store
                .data()
                .failure_of(&e, "CpuLimitExceeded", limits.manifest_cpu_ms);
            Error::Manifest(failure.to_string())
        })?;
        self.check_manifest(loaded, listed)
    }

    /// Instantiates the module in `store` and calls its manifest.
    async fn call_manifest(
        &self,
        loaded: &Loaded,
        store: &mut wasmtime::Store<HostState>,
    ) -> Result<Result<Vec<(String, FunctionKind)>, wasmtime::Error>> {
        let listed = if let Some(pre) = &loaded.orchestrator {
            let instance = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(|e| Error::Manifest(format!("{e:#}")))?;
            instance
                .keel_workflow_manifest()
                .call_describe(&mut *store)
                .await
                .map(|infos| {
                    infos
                        .into_iter()
                        .map(|i| (i.name, i.kind))
                        .collect::<Vec<_>>()
                })
        } else if let Some(pre) = &loaded.activity {
            let instance = pre
                .instantiate_async(&mut *store)
                .await
                .map_err(|e| Error::Manifest(format!("{e:#}")))?;
            instance.keel_workflow_manifest().call_describe(&mut *store).await.map(|infos| {
                infos
                    .into_iter()
                    .map(|i| {
                        let kind = match i.kind {
                            crate::wit::activity::keel::workflow::types::FunctionKind::Orchestrator => FunctionKind::Orchestrator,
                            crate::wit::activity::keel::workflow::types::FunctionKind::Activity => FunctionKind::Activity,
                        };
                        (i.name, kind)
                    })
                    .collect::<Vec<_>>()
            })
        } else {
            return Err(Error::WrongWorld(String::new()));
        };
        Ok(listed)
    }

    /// Checks what a manifest lists against what the component exports.
    fn check_manifest(
        &self,
        loaded: &Loaded,
        listed: Vec<(String, FunctionKind)>,
    ) -> Result<Vec<(String, String)>> {
        if listed.is_empty() {
            return Err(Error::Manifest("the manifest lists no functions".into()));
        }
        if listed.len() > MAX_MANIFEST_ENTRIES {
            return Err(Error::Manifest(format!(
                "the manifest lists {} functions; the limit is {MAX_MANIFEST_ENTRIES}",
                listed.len()
            )));
        }
        let max_name = self.runtime.limits().max_name_bytes;
        let mut functions = Vec::with_capacity(listed.len());
        for (name, kind) in listed {
            if name.is_empty() || name.len() > max_name {
                return Err(Error::Manifest(format!(
                    "the manifest lists a function name of {} bytes; names have 1 to {max_name} bytes",
                    name.len()
                )));
            }
            if name.starts_with(crate::capability::RESERVED_FUNCTION_PREFIX) {
                return Err(Error::ReservedName(name));
            }
            let kind = match kind {
                FunctionKind::Orchestrator if loaded.orchestrator.is_some() => "orchestrator",
                FunctionKind::Activity if loaded.activity.is_some() => "activity",
                FunctionKind::Orchestrator => {
                    return Err(Error::ManifestMismatch {
                        name,
                        kind: "orchestrator",
                    });
                }
                FunctionKind::Activity => {
                    return Err(Error::ManifestMismatch {
                        name,
                        kind: "activity",
                    });
                }
            };
            functions.push((name, kind.to_owned()));
        }
        Ok(functions)
    }
}

/// Most functions one module's manifest may list.
const MAX_MANIFEST_ENTRIES: usize = 1_000;

fn check_header(bytes: &[u8]) -> Result<()> {
    if bytes.len() < 8 || &bytes[..4] != b"\0asm" {
        return Err(Error::NotWasm);
    }
    // Core modules carry version 1 in the layer field; components carry layer 1.
    if bytes[4..8] == [1, 0, 0, 0] {
        return Err(Error::CoreModule);
    }
    Ok(())
}

#[allow(
    unsafe_code,
    reason = "deserialising a compiled artefact is unsafe by wasmtime's contract"
)]
fn deserialize(engine: &wasmtime::Engine, path: &std::path::Path) -> Result<Component> {
    // SAFETY: the file is in Keel's own cache directory, named by the module's digest and the engine's
    // compatibility hash, and was written by `write_cache` from a component this engine compiled.
    unsafe { Component::deserialize_file(engine, path) }.map_err(|e| Error::Cache(format!("{e:#}")))
}

fn write_cache(component: &Component, path: &std::path::Path) -> Result<()> {
    let bytes = component
        .serialize()
        .map_err(|e| Error::Cache(format!("{e:#}")))?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| Error::Cache(e.to_string()))?;
    }
    // Write then rename, so a concurrent reader never sees half a file.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes).map_err(|e| Error::Cache(e.to_string()))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::Cache(e.to_string()))
}

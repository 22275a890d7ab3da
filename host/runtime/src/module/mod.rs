//! Modules: the wasmtime runtime every guest runs in, and the registry of deployed components
//! (digests, validation, the compiled-artefact cache, active versions).
//!
//! It runs guests but never decides what their calls mean: that is orchestration's and activity's job.

pub mod cpu;
pub mod guest_output;
pub mod memory;
pub mod registry;
pub mod runtime;
pub mod stacks;

pub use registry::{Deployed, Loaded, Registry};
pub use runtime::Runtime;

/// Errors of deploying and loading modules.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Not WebAssembly at all.
    #[error("[KEEL-M1] not a WebAssembly file: it does not start with the `\\0asm` magic bytes")]
    NotWasm,
    /// A core module where a component was expected.
    #[error(
        "[KEEL-M2] this is a core WebAssembly module, not a component: build it for wasm32-wasip2 \
         (or wrap it with `wasm-tools component new`) against Keel's WIT world"
    )]
    CoreModule,
    /// The bytes do not compile as a component.
    #[error("[KEEL-M3] invalid component: {0}")]
    Invalid(String),
    /// The component does not export Keel's interfaces.
    #[error(
        "[KEEL-M4] wrong world: the component must export keel:workflow/manifest@0.1.0 and \
         keel:workflow/orchestrators@0.1.0 or keel:workflow/activities@0.1.0; it exports [{0}]"
    )]
    WrongWorld(String),
    /// The component imports something Keel does not provide.
    #[error("[KEEL-M5] the component imports something Keel does not provide: {0}")]
    UnsupportedImport(String),
    /// The manifest could not be read.
    #[error("[KEEL-M6] reading the module's manifest failed: {0}")]
    Manifest(String),
    /// The manifest disagrees with the exports.
    #[error(
        "[KEEL-M7] the manifest lists {name} as an {kind} but the component does not export {kind}s"
    )]
    ManifestMismatch {
        /// Function name.
        name: String,
        /// Its kind.
        kind: &'static str,
    },
    /// The manifest lists a name reserved for Keel's built-in functions.
    #[error(
        "[KEEL-M8] the manifest lists {0:?}, but names starting with \"keel.\" are reserved for \
         Keel's built-in functions (keel.http): rename the function"
    )]
    ReservedName(String),
    /// The version label already names another module providing one of the same functions.
    #[error(
        "[KEEL-M9] version {label} of {function} is already module {digest}: give these bytes \
         another label (`keel activate {function}@{label}` runs that one)"
    )]
    LabelTaken {
        /// The label.
        label: String,
        /// A function both modules provide.
        function: String,
        /// The other module's digest, shortened.
        digest: String,
    },
    /// The stored bytes do not hash to their digest.
    #[error(
        "the stored bytes of module {0} do not match its digest: the database row is damaged; \
         deploy the module again"
    )]
    Damaged(String),
    /// No module with this digest is stored.
    #[error("no module with digest {0} is deployed")]
    NotDeployed(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    /// The compiled-artefact cache failed.
    #[error("compiled-module cache: {0}")]
    Cache(String),
}

/// Result of module operations.
pub type Result<T, E = Error> = std::result::Result<T, E>;

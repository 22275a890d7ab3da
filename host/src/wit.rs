//! The only place that generates host bindings for Keel's WIT package (`wit/keel.wit`).
//!
//! Two worlds are bound: orchestrator modules (context imported, orchestrators exported) and
//! activity modules; a module exporting both satisfies both. Nothing else belongs here.

/// Bindings of world `orchestrator-module`.
pub(crate) mod orchestrator {
    wasmtime::component::bindgen!({
        world: "orchestrator-module",
        path: "../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Bindings of world `activity-module`.
pub(crate) mod activity {
    wasmtime::component::bindgen!({
        world: "activity-module",
        path: "../wit",
        exports: { default: async },
    });
}

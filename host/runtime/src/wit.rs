//! The only place that generates host bindings for Keel's WIT package (`wit/keel.wit`).
//!
//! Two worlds are bound: orchestrator modules (context imported, orchestrators exported) and
//! activity modules (activity context imported, activities exported); a module exporting both satisfies both. Nothing else belongs here.

/// Bindings of world `orchestrator-module`.
pub mod orchestrator {
    wasmtime::component::bindgen!({
        world: "orchestrator-module",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
    });
}

/// Bindings of world `activity-module`. Its `wasi:http` imports are wasmtime-wasi-http's, linked by
/// the runtime; the exports and the `activity-context` import are bound here.
pub mod activity {
    wasmtime::component::bindgen!({
        world: "activity-module",
        path: "../../wit",
        imports: { default: async | trappable },
        exports: { default: async },
        with: {
            "wasi:http": wasmtime_wasi_http::p2::bindings::http,
            "wasi:io": wasmtime_wasi::p2::bindings::io,
            "wasi:clocks": wasmtime_wasi::p2::bindings::clocks,
        },
    });
}

//! Keel's Rust SDK: an idiomatic, synchronous layer over the `keel:workflow` WIT bindings, for writing
//! orchestrators and activities that compile to one WebAssembly component.
//! It must never hide a host call behind a cache or read time and randomness itself: orchestrators stay
//! deterministic only because every such value comes from the host.
//!
//! # Writing a module
//!
//! Orchestrators are `fn(&Context, I) -> Result<O, Failure>`, activities are
//! `fn(I) -> Result<O, Failure>`, with `I: DeserializeOwned` and `O: Serialize` (payloads cross the
//! boundary as JSON). [`module!`] registers them by name, exports them and generates the manifest:
//!
//! ```no_run
//! use keel_sdk::{Context, Failure};
//!
//! fn greet_all(ctx: &Context, names: Vec<String>) -> Result<Vec<String>, Failure> {
//!     // Schedule every call first, then wait: the activities run in parallel.
//!     let tasks: Vec<_> = names.iter().map(|name| ctx.call_activity("Greet", name)).collect();
//!     ctx.all_as(&tasks)
//! }
//!
//! fn greet(name: String) -> Result<String, Failure> {
//!     if name.is_empty() {
//!         return Err(Failure::new("NoName", "cannot greet nobody"));
//!     }
//!     Ok(format!("hello, {name}"))
//! }
//!
//! keel_sdk::module! {
//!     orchestrators: { "GreetAll" => greet_all },
//!     activities: { "Greet" => greet },
//! }
//! ```
//!
//! Build the crate as a `cdylib` with `cargo build --release --target wasm32-wasip2`.
//!
//! # Blocking without async
//!
//! Scheduling calls return a [`Task`] at once. [`Task::get`], [`Context::all`] and [`Context::any`]
//! block: the host suspends the whole component inside the `await-*` call and resumes it when the
//! tasks resolve, possibly much later, so plain synchronous code is enough.

mod activity;
mod context;
#[doc(hidden)]
pub mod dispatch;
mod durable_http;
mod failure;
mod heartbeat;
pub mod http;
mod options;
mod queries;
mod requests;
mod updates;

/// The raw bindings wit-bindgen generates for the world `keel:workflow/module`.
///
/// [`module!`] exports through them; guest code should not need them otherwise.
#[allow(
    unsafe_code,
    reason = "wit-bindgen's generated glue lifts and lowers values across the component boundary"
)]
#[allow(
    unreachable_pub,
    clippy::all,
    reason = "generated code is not ours to restyle"
)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "module",
        path: "../../wit",
        // Exported so that `module!`, expanded in the user's crate, can export through these bindings.
        pub_export_macro: true,
        default_bindings_module: "keel_sdk::bindings",
        // The world imports wasi:http (for activities' outgoing requests): bind it and its WASI
        // dependencies here, so `keel_sdk::http` needs no other crate.
        generate_all,
    });
}

pub use activity::{
    ATTEMPT_VAR, ActivityInfo, IDEMPOTENCY_KEY_VAR, INSTANCE_ID_VAR, TASK_ID_VAR, activity_info,
};
pub use context::{Context, LogLevel, Task};
pub use durable_http::{HTTP_ACTIVITY, HttpRequest, HttpResponse, HttpTask};
pub use failure::Failure;
pub use heartbeat::{heartbeat, last_heartbeat};
pub use options::{ActivityOptions, RetryPolicy};
/// The JSON library payloads go through, re-exported so guests can use `json!` and `Value` without
/// a version mismatch.
pub use serde_json;
pub use serde_json::Value;

/// Registers orchestrators and activities by name, exports them and generates the manifest.
///
/// ```no_run
/// # use keel_sdk::{Context, Failure};
/// # fn process_order(_: &Context, _: ()) -> Result<(), Failure> { Ok(()) }
/// # fn verify_payment(_: ()) -> Result<(), Failure> { Ok(()) }
/// # fn ship_order(_: ()) -> Result<(), Failure> { Ok(()) }
/// keel_sdk::module! {
///     orchestrators: { "ProcessOrder" => process_order },
///     activities: { "VerifyPayment" => verify_payment, "ShipOrder" => ship_order },
/// }
/// ```
///
/// Either section may be empty or left out, and they may come in either order; each name must be
/// unique within its section. Orchestrators are `fn(&Context, I) -> Result<O, Failure>` and activities
/// `fn(I) -> Result<O, Failure>`, with `I: DeserializeOwned` and `O: Serialize`; closures of those
/// shapes work too. Invoke it once per crate, at the crate root or any module.
///
/// Calling a name that is not registered fails with kind `UnknownFunction`; an input that does not
/// deserialise fails with kind `InvalidInput` before the function runs.
#[macro_export]
macro_rules! module {
    // Activities written first: reorder, so the main arm sees one shape.
    (
        activities: { $($aname:literal => $afn:expr),* $(,)? } $(,)?
        orchestrators: { $($oname:literal => $ofn:expr),* $(,)? } $(,)?
    ) => {
        $crate::module! {
            orchestrators: { $($oname => $ofn),* },
            activities: { $($aname => $afn),* },
        }
    };
    (
        $(orchestrators: { $($oname:literal => $ofn:expr),* $(,)? } $(,)?)?
        $(activities: { $($aname:literal => $afn:expr),* $(,)? } $(,)?)?
    ) => {
        /// The type the Keel exports are implemented on; generated by `keel_sdk::module!`.
        struct __KeelModule;

        impl $crate::bindings::exports::keel::workflow::orchestrators::Guest for __KeelModule {
            fn run(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::dispatch::WitFailure> {
                // Keeps `input` used when no orchestrator is registered.
                let _ = &input;
                match name.as_str() {
                    $($($oname => $crate::dispatch::run_orchestrator($oname, &input, $ofn),)*)?
                    _ => ::core::result::Result::Err(
                        $crate::dispatch::unknown_function("orchestrator", &name),
                    ),
                }
            }
        }

        impl $crate::bindings::exports::keel::workflow::activities::Guest for __KeelModule {
            fn run(
                name: ::std::string::String,
                input: ::std::string::String,
            ) -> ::core::result::Result<::std::string::String, $crate::dispatch::WitFailure> {
                let _ = &input;
                match name.as_str() {
                    $($($aname => $crate::dispatch::run_activity($aname, &input, $afn),)*)?
                    _ => ::core::result::Result::Err(
                        $crate::dispatch::unknown_function("activity", &name),
                    ),
                }
            }
        }

        impl $crate::bindings::exports::keel::workflow::manifest::Guest for __KeelModule {
            fn describe() -> ::std::vec::Vec<$crate::dispatch::FunctionInfo> {
                $crate::dispatch::describe(&[$($($oname),*)?], &[$($($aname),*)?])
            }
        }

        $crate::bindings::export!(__KeelModule with_types_in $crate::bindings);
    };
}

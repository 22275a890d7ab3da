//! Bad input gets a clear error and loses nothing: malformed modules, wrong worlds, unknown names,
//! invalid JSON, oversize payloads.

use keel::engine::Error;
use keel::module::Error as ModuleError;
use keel::store::Status;
use serde_json::json;

use crate::support::{assert_completed, engine, engine_with, finish, guest};

/// The smallest valid component: no imports, no exports.
const EMPTY_COMPONENT: &[u8] = b"\0asm\x0d\x00\x01\x00";
/// The smallest valid core module.
const CORE_MODULE: &[u8] = b"\0asm\x01\x00\x00\x00";

async fn deploy_error(bytes: &[u8]) -> ModuleError {
    let t = engine(&["order_processing"]).await;
    let before = t.keel.functions().await.unwrap();
    let err = match t.keel.deploy(bytes.to_vec(), None).await {
        Err(Error::Module(e)) => e,
        other => panic!("expected a module error, got {other:?}"),
    };
    // A refused deploy changes nothing.
    assert_eq!(t.keel.functions().await.unwrap(), before);
    assert_eq!(t.keel.modules().await.unwrap().len(), 1);
    err
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_that_is_not_wasm_is_refused() {
    let err = deploy_error(b"#!/bin/sh\necho hello\n").await;
    assert!(matches!(err, ModuleError::NotWasm), "{err}");
    assert!(err.to_string().contains("not a WebAssembly file"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_core_module_is_refused_with_a_hint() {
    let err = deploy_error(CORE_MODULE).await;
    assert!(matches!(err, ModuleError::CoreModule), "{err}");
    assert!(err.to_string().contains("wasm32-wasip2"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_truncated_component_is_refused() {
    let mut bytes = guest("order_processing");
    bytes.truncate(bytes.len() / 2);
    let err = deploy_error(&bytes).await;
    assert!(matches!(err, ModuleError::Invalid(_)), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_component_of_another_world_is_refused() {
    let err = deploy_error(EMPTY_COMPONENT).await;
    assert!(matches!(err, ModuleError::WrongWorld(_)), "{err}");
    assert!(err.to_string().contains("keel:workflow/manifest@0.1.0"));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_orchestrator_is_named_with_the_deployed_ones() {
    let t = engine(&["order_processing"]).await;
    let err = t.keel.start("ProcessOrders", "{}", None).await.unwrap_err();
    assert!(matches!(err, Error::UnknownOrchestrator { .. }), "{err}");
    assert!(err.to_string().contains("ProcessOrder"), "{err}");
    assert!(t.keel.list(&Default::default()).await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_activity_fails_its_task_not_the_host() {
    let t = engine(&["keel_test_patterns"]).await;
    let id = t
        .keel
        .start("RunBad", r#"{"activity":"NoSuchActivity"}"#, None)
        .await
        .unwrap();
    let instance = finish(&t.keel, id.as_str()).await;
    assert_completed(&instance);
    assert_eq!(instance.output.unwrap()["kind"], json!("ActivityNotFound"));
}

#[tokio::test(flavor = "multi_thread")]
async fn invalid_json_is_refused_before_anything_is_stored() {
    let t = engine(&["keel_test_patterns"]).await;
    let err = t.keel.start("Steps", "{not json", None).await.unwrap_err();
    assert!(
        matches!(err, Error::InvalidJson { what: "input", .. }),
        "{err}"
    );
    assert!(t.keel.list(&Default::default()).await.unwrap().is_empty());

    let id = t.keel.start("Steps", "null", None).await.unwrap();
    let err = t
        .keel
        .raise_event(id.as_str(), "go", "[1,")
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::InvalidJson {
                what: "event data",
                ..
            }
        ),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_payload_over_the_limit_is_refused() {
    let t = engine_with(&["keel_test_patterns"], |c| {
        c.limits.max_payload_bytes = 1024
    })
    .await;
    let big = serde_json::to_string(&"x".repeat(2000)).unwrap();
    let err = t.keel.start("Steps", &big, None).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::PayloadTooLarge {
                size: 2002,
                limit: 1024,
                ..
            }
        ),
        "{err}"
    );
    let id = t.keel.start("Steps", "null", None).await.unwrap();
    assert!(matches!(
        t.keel.raise_event(id.as_str(), "go", &big).await,
        Err(Error::PayloadTooLarge { .. })
    ));
    assert_eq!(
        t.keel.status(id.as_str()).await.unwrap().unwrap().status,
        Status::Pending
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_for_unknown_instances_are_refused() {
    let t = engine(&["keel_test_patterns"]).await;
    assert!(matches!(
        t.keel.raise_event("nobody", "go", "1").await,
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        t.keel.terminate("nobody", "x").await,
        Err(Error::NotFound(_))
    ));
}

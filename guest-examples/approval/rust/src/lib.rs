//! The approval example: a human-interaction orchestrator that waits for an `Approved` event or a
//! durable timeout, whichever comes first, and then applies the change or escalates. Its `Request`
//! query tells a client where the request stands while it runs, and its `AddComment` update lets
//! reviewers comment meanwhile (a comment without text is rejected).
//! It must never wait with a sleep or the wall clock: the deadline is a durable timer, so the wait
//! survives restarts and replays to the same winner.

use std::cell::RefCell;
use std::rc::Rc;

use keel_sdk::{Context, Failure};
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Request {
    request_id: String,
    timeout_ms: u64,
}

/// The `AddComment` update's input, e.g. `{"by":"bob","text":"looks fine"}`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Comment {
    #[serde(default)]
    by: Option<String>,
    #[serde(default)]
    text: Option<String>,
}

/// The `AddComment` validator: a comment needs text.
fn has_text(comment: &Comment) -> Result<(), Failure> {
    match &comment.text {
        Some(text) if !text.trim().is_empty() => Ok(()),
        _ => Err(Failure::new("EmptyComment", "a comment needs text")),
    }
}

/// The `Approved` event's payload, e.g. `{"by":"alice"}`.
#[derive(Debug, Deserialize)]
struct Approval {
    by: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Change {
    request_id: String,
    approved_by: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Escalation {
    request_id: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Outcome {
    request_id: String,
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    approved_by: Option<String>,
}

fn approval(ctx: &Context, request: Request) -> Result<Outcome, Failure> {
    // What the `Request` query answers (`keel query ID Request`), kept up to date below.
    let state = Rc::new(RefCell::new(
        json!({"requestId": request.request_id, "state": "waiting"}),
    ));
    let seen = state.clone();
    ctx.on_query("Request", move |_: serde_json::Value| {
        Ok(seen.borrow().clone())
    });
    // Comments reviewers add while the request waits (`keel update ID AddComment`).
    let comments: Rc<RefCell<Vec<Comment>>> = Rc::default();
    let kept = comments.clone();
    ctx.on_update_validated(
        "AddComment",
        has_text,
        move |_: &Context, comment: Comment| {
            kept.borrow_mut().push(comment);
            Ok(json!({"comments": kept.borrow().len()}))
        },
    );
    ctx.set_custom_status(&json!({"state": "waiting"}));
    let deadline = ctx.timer_at(ctx.now_ms().saturating_add(request.timeout_ms));
    let approved = ctx.wait_event("Approved");

    let (winner, result) = ctx.any(&[deadline, approved]);
    if winner == 1 {
        let approval: Approval = serde_json::from_value(result?).map_err(|error| {
            Failure::new(
                "InvalidEvent",
                format!("the Approved event must look like {{\"by\":\"name\"}}: {error}"),
            )
        })?;
        ctx.info(format!(
            "request {} approved by {}",
            request.request_id, approval.by
        ));
        ctx.set_custom_status(&json!({"state": "approved", "by": approval.by}));
        state.borrow_mut()["state"] = json!("applying");
        let change = Change {
            request_id: request.request_id.clone(),
            approved_by: approval.by,
        };
        ctx.call_activity("ApplyChange", &change)
            .get::<serde_json::Value>()?;
        return Ok(Outcome {
            request_id: request.request_id,
            outcome: "approved",
            approved_by: Some(change.approved_by),
        });
    }

    // The timer won (a timer only ever resolves with `null`, so its result carries nothing to check
    // beyond a failure).
    result?;
    ctx.warn(format!(
        "request {} not approved within {} ms: escalating",
        request.request_id, request.timeout_ms
    ));
    ctx.set_custom_status(&json!({"state": "escalated"}));
    state.borrow_mut()["state"] = json!("escalating");
    let escalation = Escalation {
        request_id: request.request_id.clone(),
    };
    ctx.call_activity("Escalate", &escalation)
        .get::<serde_json::Value>()?;
    Ok(Outcome {
        request_id: request.request_id,
        outcome: "escalated",
        approved_by: None,
    })
}

/// Stand-in for applying the approved change somewhere real.
fn apply_change(change: Change) -> Result<serde_json::Value, Failure> {
    Ok(json!({"applied": true, "requestId": change.request_id, "approvedBy": change.approved_by}))
}

/// Stand-in for paging whoever handles unanswered requests.
fn escalate(escalation: Escalation) -> Result<serde_json::Value, Failure> {
    Ok(json!({"escalated": true, "requestId": escalation.request_id}))
}

keel_sdk::module! {
    orchestrators: { "Approval" => approval },
    activities: { "ApplyChange" => apply_change, "Escalate" => escalate },
}

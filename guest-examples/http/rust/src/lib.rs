//! The HTTP example: an activity that calls a web service under the grants of its deployment, an
//! orchestrator that schedules it, an orchestrator that schedules a durable HTTP call (`call_http`,
//! following `202 Accepted` when asked), and one that breaks the rule and sends a request itself,
//! which the host refuses (`KEEL-O1`). The same module exists in every guest language.
//! It must never send a request from an orchestrator except to show that refusal.

use std::time::Duration;

use keel_sdk::{ActivityOptions, Context, Failure, HttpRequest, RetryPolicy, http};
use serde::{Deserialize, Serialize};

/// What `Fetch` sends: an absolute `url`, or a `path` on the configured `BASE_URL`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Request {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body: Option<String>,
}

/// The input of `CallService`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FetchInput {
    request: Request,
    #[serde(default)]
    timeout_ms: Option<u64>,
    #[serde(default)]
    attempts: Option<u32>,
}

/// What `Fetch` returns: the status and the body as text, whatever the status.
#[derive(Debug, Serialize, Deserialize)]
struct Fetched {
    status: u16,
    body: String,
}

/// The input of `DurableFetch` and `FetchFromOrchestrator`.
#[derive(Debug, Deserialize)]
struct Durable {
    url: String,
    #[serde(default)]
    method: Option<String>,
    #[serde(default)]
    body: Option<String>,
    #[serde(default)]
    asynchronous: bool,
}

fn call_service(ctx: &Context, input: FetchInput) -> Result<Fetched, Failure> {
    let mut options = ActivityOptions::new();
    if let Some(ms) = input.timeout_ms {
        options = options.timeout(Duration::from_millis(ms));
    }
    if let Some(attempts) = input.attempts {
        options = options.retry(RetryPolicy::new(attempts, Duration::from_millis(100)));
    }
    ctx.call_activity_with("Fetch", &input.request, options)
        .get()
}

fn durable_fetch(ctx: &Context, input: Durable) -> Result<Fetched, Failure> {
    let mut request = HttpRequest::new(input.method.as_deref().unwrap_or("GET"), &input.url)
        .header("authorization", "Bearer {{secret:API_TOKEN}}");
    if let Some(body) = &input.body {
        request = request.body(body);
    }
    if input.asynchronous {
        request = request.asynchronous();
    }
    let response = ctx.call_http(&request).get()?;
    Ok(Fetched {
        status: response.status,
        body: response.body,
    })
}

fn fetch_from_orchestrator(_ctx: &Context, input: Durable) -> Result<Fetched, Failure> {
    // Wrong on purpose: an orchestrator must not reach the network. The host fails the instance.
    let response = http::Request::get(&input.url).send()?;
    Ok(Fetched {
        status: response.status,
        body: response.text(),
    })
}

/// Sends the request, with `authorization: Bearer $API_TOKEN` when that secret is set.
fn fetch(request: Request) -> Result<Fetched, Failure> {
    let url = match (&request.url, &request.path) {
        (Some(url), _) => url.clone(),
        (None, Some(path)) => {
            let base = std::env::var("BASE_URL").map_err(|_| {
                Failure::new(
                    "NotConfigured",
                    "BASE_URL is not set; set it with: keel config set Fetch BASE_URL=<url>",
                )
            })?;
            format!("{base}{path}")
        }
        (None, None) => return Err(Failure::new("InvalidInput", "give a url or a path")),
    };
    let mut outgoing = http::Request::new(request.method.as_deref().unwrap_or("GET"), &url);
    if let Ok(token) = std::env::var("API_TOKEN") {
        outgoing = outgoing.header("authorization", &format!("Bearer {token}"));
    }
    if let Some(body) = request.body {
        outgoing = outgoing.body(body);
    }
    let response = outgoing.send()?;
    Ok(Fetched {
        status: response.status,
        body: response.text(),
    })
}

keel_sdk::module! {
    orchestrators: {
        "CallService" => call_service,
        "DurableFetch" => durable_fetch,
        "FetchFromOrchestrator" => fetch_from_orchestrator,
    },
    activities: { "Fetch" => fetch },
}

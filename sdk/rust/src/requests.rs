//! The waits, and the clients' requests they hand over on the way: the SDK waits with
//! `wait-all-or-request` and `wait-any-or-request`, serves each query (`queries.rs`) and update
//! (`updates.rs`) the host hands it, and waits again until the tasks' outcomes come.

use crate::bindings::keel::workflow::context as host;
use crate::bindings::keel::workflow::types as wit;
use crate::{queries, updates};

/// Serves a request a wait handed over.
fn serve(request: host::Request) {
    match request {
        host::Request::Query(query) => queries::answer(query),
        host::Request::Update(update) => updates::serve(update),
    }
}

/// `await-all` through `wait-all-or-request`, serving the requests handed over on the way.
pub(crate) fn wait_all(ids: &[u32]) -> Vec<wit::Outcome> {
    loop {
        match host::wait_all_or_request(ids) {
            host::AllOrRequest::Done(outcomes) => return outcomes,
            host::AllOrRequest::Request(request) => serve(request),
        }
    }
}

/// `await-any` through `wait-any-or-request`, serving the requests handed over on the way.
pub(crate) fn wait_any(ids: &[u32]) -> (u32, wit::Outcome) {
    loop {
        match host::wait_any_or_request(ids) {
            host::AnyOrRequest::Done(done) => return done,
            host::AnyOrRequest::Request(request) => serve(request),
        }
    }
}

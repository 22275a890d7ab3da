//! Query handlers: functions an orchestrator registers with [`Context::on_query`] so that clients
//! can read its state while it runs (`keel query ID NAME`).
//!
//! The host hands a query over inside a wait (see `requests.rs`), in a copy of the orchestrator
//! replayed to its current state; the handler's answer goes back with `answer-query`.
//! Handlers must only read: scheduling or waiting in one fails the query (never the instance).
//!
//! [`Context::on_query`]: crate::Context::on_query

use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::keel::workflow::context as host;
use crate::failure::Failure;

/// A registered handler: JSON text in, JSON text or a failure out.
type Handler = Box<dyn Fn(&str) -> Result<String, Failure>>;

thread_local! {
    // A component runs one orchestrator at a time on one thread.
    static HANDLERS: RefCell<HashMap<String, Handler>> = RefCell::new(HashMap::new());
}

/// Registers `handler` under `name`, replacing any handler of that name.
pub(crate) fn register<I, O, F>(name: &str, handler: F)
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(I) -> Result<O, Failure> + 'static,
{
    let query = name.to_owned();
    let handler: Handler = Box::new(move |input: &str| {
        let input: I = serde_json::from_str(input).map_err(|error| {
            Failure::new(
                "InvalidInput",
                format!("the input of query {query} does not match its type: {error}"),
            )
        })?;
        let output = handler(input)?;
        serde_json::to_string(&output).map_err(|error| {
            Failure::new(
                "InvalidOutput",
                format!("the answer of query {query} cannot be serialised to JSON: {error}"),
            )
        })
    });
    HANDLERS.with(|handlers| handlers.borrow_mut().insert(name.to_owned(), handler));
}

/// Forgets every handler: each orchestrator run registers its own.
pub(crate) fn clear() {
    HANDLERS.with(|handlers| handlers.borrow_mut().clear());
}

/// Answers a query the host handed over with the handler of its name.
pub(crate) fn answer(query: host::QueryRequest) {
    let answer = HANDLERS.with(|handlers| match handlers.borrow().get(&query.name) {
        Some(handler) => handler(&query.input),
        None => Err(Failure::new(
            "UnknownQuery",
            format!("the orchestrator registered no query named {}", query.name),
        )),
    });
    let answer = answer.map_err(Failure::into_wit);
    host::answer_query(answer.as_deref());
}

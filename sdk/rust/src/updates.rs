//! Update handlers: functions an orchestrator registers with [`Context::on_update`] so that clients
//! can change its state while it runs and get a response (`keel update ID NAME`).
//!
//! The host hands an update over inside a wait (see `requests.rs`). Its validator runs first and
//! must only read; the verdict goes back with `accept-update`. A rejected update records nothing.
//! An accepted one is recorded, its handler runs (it may change the orchestrator's state, schedule
//! tasks and set the custom status, but not wait) and its result goes back with `answer-update`.
//! While replaying, the host says to run the handler of an update the history records as accepted
//! whatever the validator says, so that the handler's changes are made again.
//!
//! [`Context::on_update`]: crate::Context::on_update

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::keel::workflow::context as host;
use crate::context::Context;
use crate::failure::Failure;

/// An update's input, parsed by its handler's type once for both the validator and the handler.
type Parsed = Box<dyn std::any::Any>;

/// Parses an update's JSON input by its handler's type.
type Parse = Box<dyn Fn(&str) -> Result<Parsed, Failure>>;
/// Runs the validator (accepting when there is none).
type Validate = Box<dyn Fn(&Parsed) -> Result<(), Failure>>;
/// Runs the handler; its result as JSON text.
type Handle = Box<dyn Fn(Parsed) -> Result<String, Failure>>;

/// A registered update: its input's parser, its validator, its handler.
struct Update {
    parse: Parse,
    validate: Validate,
    handle: Handle,
}

thread_local! {
    // A component runs one orchestrator at a time on one thread.
    static UPDATES: RefCell<HashMap<String, Rc<Update>>> = RefCell::new(HashMap::new());
}

/// Registers `handler` (and `validator`, if any) under `name`, replacing any update of that name.
pub(crate) fn register<I, O, V, F>(name: &str, validator: Option<V>, handler: F)
where
    I: DeserializeOwned + 'static,
    O: Serialize,
    V: Fn(&I) -> Result<(), Failure> + 'static,
    F: Fn(&Context, I) -> Result<O, Failure> + 'static,
{
    let update = name.to_owned();
    let parse = Box::new(move |input: &str| {
        serde_json::from_str::<I>(input)
            .map(|input| Box::new(input) as Parsed)
            .map_err(|error| {
                Failure::new(
                    "InvalidInput",
                    format!("the input of update {update} does not match its type: {error}"),
                )
            })
    });
    let validate = Box::new(
        move |input: &Parsed| match (&validator, input.downcast_ref::<I>()) {
            (Some(validator), Some(input)) => validator(input),
            _ => Ok(()),
        },
    );
    let update = name.to_owned();
    let handle = Box::new(move |input: Parsed| {
        let Ok(input) = input.downcast::<I>() else {
            return Err(Failure::new("InvalidInput", "the update's input was lost"));
        };
        let output = handler(&Context::new(), *input)?;
        serde_json::to_string(&output).map_err(|error| {
            Failure::new(
                "InvalidOutput",
                format!("the result of update {update} cannot be serialised to JSON: {error}"),
            )
        })
    });
    let entry = Rc::new(Update {
        parse,
        validate,
        handle,
    });
    UPDATES.with(|updates| updates.borrow_mut().insert(name.to_owned(), entry));
}

/// Forgets every update: each orchestrator run registers its own.
pub(crate) fn clear() {
    UPDATES.with(|updates| updates.borrow_mut().clear());
}

/// Serves an update the host handed over: validate, accept or reject, then run the handler.
pub(crate) fn serve(request: host::UpdateRequest) {
    // Cloned out of the registry so that a handler may register updates itself.
    let update = UPDATES.with(|updates| updates.borrow().get(&request.name).cloned());
    let parsed = match update {
        None => Err(Failure::new(
            "UnknownUpdate",
            format!(
                "the orchestrator registered no update named {}",
                request.name
            ),
        )),
        Some(update) => (update.parse)(&request.input).map(|input| (update, input)),
    };
    let verdict = match &parsed {
        Ok((update, input)) => (update.validate)(input),
        Err(failure) => Err(failure.clone()),
    };
    let verdict = verdict.map_err(Failure::into_wit);
    if !host::accept_update(verdict.as_ref().map(|_| ())) {
        return;
    }
    let answer = match parsed {
        Ok((update, input)) => (update.handle)(input),
        // Replaying an update the history holds as accepted that this build cannot run: the
        // recorded result stands; this answer only closes it.
        Err(failure) => Err(failure),
    };
    let answer = answer.map_err(Failure::into_wit);
    host::answer_update(answer.as_deref());
}

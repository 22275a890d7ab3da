//! Activities answered by the engine instead of a guest, by name: what a test kit uses to run an
//! orchestrator against stand-ins (as Durable Functions' and Temporal's test kits mock activities).
//!
//! A mocked activity needs no deployed module. Each attempt takes the next of its results; the last
//! one answers every attempt after it, so that `[failure, output]` fails the first attempt and
//! succeeds from the second on, under the call's retry policy like a real activity.

use std::collections::HashMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::history::Failure;

/// The mocked activities of an engine.
#[derive(Debug, Default)]
pub(crate) struct Mocks {
    by_name: Mutex<HashMap<String, Answers>>,
}

#[derive(Debug)]
struct Answers {
    results: Vec<Result<Value, Failure>>,
    taken: usize,
}

impl Mocks {
    /// From now on, activity `name` answers with `results` in turn (the last one repeats).
    pub(crate) fn set(&self, name: &str, results: Vec<Result<Value, Failure>>) {
        let mut by_name = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        if results.is_empty() {
            by_name.remove(name);
        } else {
            by_name.insert(name.to_owned(), Answers { results, taken: 0 });
        }
    }

    /// The answer to the next attempt of `name`, when it is mocked.
    pub(crate) fn answer(&self, name: &str) -> Option<Result<Value, Failure>> {
        let mut by_name = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let answers = by_name.get_mut(name)?;
        let index = answers.taken.min(answers.results.len() - 1);
        answers.taken += 1;
        answers.results.get(index).cloned()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_mock_answers_its_results_in_turn_and_repeats_the_last() {
        let mocks = Mocks::default();
        assert!(mocks.answer("Charge").is_none());
        let failure = Failure::new("Declined", "no");
        mocks.set("Charge", vec![Err(failure.clone()), Ok(json!(1))]);
        assert_eq!(mocks.answer("Charge"), Some(Err(failure)));
        assert_eq!(mocks.answer("Charge"), Some(Ok(json!(1))));
        assert_eq!(mocks.answer("Charge"), Some(Ok(json!(1))));
        mocks.set("Charge", Vec::new());
        assert!(mocks.answer("Charge").is_none());
    }
}

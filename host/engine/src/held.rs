//! The leased rows this process's live tasks are working on, so that lease renewal extends exactly
//! those and nothing else.
//!
//! A row is held from the moment a turn or an attempt is dispatched for it until that task ends,
//! whatever way it ends: a result that could not be committed, a failure that could not be recorded
//! or a task that panicked all drop the hold, and the row's lease then runs out so that this or
//! another worker picks it up again.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// What live tasks hold: instance ids and work item ids, each with how many tasks hold it.
#[derive(Debug, Default)]
pub(crate) struct Held {
    instances: Mutex<HashMap<String, usize>>,
    work_items: Mutex<HashMap<i64, usize>>,
}

/// One task's hold on a row; dropping it lets the row's lease run out.
#[derive(Debug)]
pub(crate) struct Hold {
    held: Arc<Held>,
    row: Row,
}

#[derive(Debug)]
enum Row {
    Instance(String),
    WorkItem(i64),
}

impl Held {
    /// A hold on instance `id`, for a turn.
    pub(crate) fn instance(self: &Arc<Self>, id: &str) -> Hold {
        add(&self.instances, id.to_owned());
        Hold {
            held: self.clone(),
            row: Row::Instance(id.to_owned()),
        }
    }

    /// A hold on work item `id`, for an attempt.
    pub(crate) fn work_item(self: &Arc<Self>, id: i64) -> Hold {
        add(&self.work_items, id);
        Hold {
            held: self.clone(),
            row: Row::WorkItem(id),
        }
    }

    /// The instances and work items held now.
    pub(crate) fn rows(&self) -> (Vec<String>, Vec<i64>) {
        let instances = lock(&self.instances).keys().cloned().collect();
        let work_items = lock(&self.work_items).keys().copied().collect();
        (instances, work_items)
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        match &self.row {
            Row::Instance(id) => remove(&self.held.instances, id),
            Row::WorkItem(id) => remove(&self.held.work_items, id),
        }
    }
}

fn lock<K>(map: &Mutex<HashMap<K, usize>>) -> std::sync::MutexGuard<'_, HashMap<K, usize>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

fn add<K: Eq + Hash>(map: &Mutex<HashMap<K, usize>>, key: K) {
    *lock(map).entry(key).or_default() += 1;
}

fn remove<K: Eq + Hash>(map: &Mutex<HashMap<K, usize>>, key: &K) {
    let mut map = lock(map);
    if let Some(count) = map.get_mut(key) {
        *count -= 1;
        if *count == 0 {
            map.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_held_until_its_last_hold_is_dropped() {
        let held = Arc::new(Held::default());
        let a = held.instance("i");
        let b = held.instance("i");
        let w = held.work_item(7);
        assert_eq!(held.rows(), (vec!["i".to_owned()], vec![7]));
        drop(a);
        assert_eq!(held.rows().0, vec!["i".to_owned()]);
        drop(b);
        drop(w);
        assert_eq!(held.rows(), (vec![], vec![]));
    }
}

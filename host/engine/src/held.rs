//! The leased rows this process's live tasks are working on, so that lease renewal extends exactly
//! those and nothing else.
//!
//! A row is held from the moment a turn or an attempt is dispatched for it until that task ends,
//! whatever way it ends: a result that could not be committed, a failure that could not be recorded
//! or a task that panicked all drop the hold, and the row's lease then runs out so that this or
//! another worker picks it up again.
//!
//! A work item that lease renewal finds gone (its instance was terminated) or leased to another
//! worker is *cancelled*: the attempt holding it is told through [`Hold::cancelled`] and stops.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// What live tasks hold: instance ids and work item ids, each with how many tasks hold it.
#[derive(Debug, Default)]
pub(crate) struct Held {
    instances: Mutex<HashMap<String, usize>>,
    work_items: Mutex<HashMap<i64, usize>>,
    /// The cancellation signal of each held work item.
    cancels: Mutex<HashMap<i64, Arc<tokio::sync::Notify>>>,
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
        lock(&self.cancels).entry(id).or_default();
        Hold {
            held: self.clone(),
            row: Row::WorkItem(id),
        }
    }

    /// Tells the attempts holding `work_items` that they are cancelled (a signal sent before an
    /// attempt waits for it is kept for it).
    pub(crate) fn cancel(&self, work_items: &[i64]) {
        let cancels = lock(&self.cancels);
        for id in work_items {
            if let Some(signal) = cancels.get(id) {
                signal.notify_one();
            }
        }
    }

    /// The instances and work items held now.
    pub(crate) fn rows(&self) -> (Vec<String>, Vec<i64>) {
        let instances = lock(&self.instances).keys().cloned().collect();
        let work_items = lock(&self.work_items).keys().copied().collect();
        (instances, work_items)
    }
}

impl Hold {
    /// Completes once the work item this holds is cancelled (never for an instance's hold).
    pub(crate) async fn cancelled(&self) {
        let signal = match &self.row {
            Row::WorkItem(id) => lock(&self.held.cancels).get(id).cloned(),
            Row::Instance(_) => None,
        };
        match signal {
            Some(signal) => signal.notified().await,
            None => std::future::pending().await,
        }
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        match &self.row {
            Row::Instance(id) => remove(&self.held.instances, id),
            Row::WorkItem(id) => {
                remove(&self.held.work_items, id);
                if !lock(&self.held.work_items).contains_key(id) {
                    lock(&self.held.cancels).remove(id);
                }
            }
        }
    }
}

fn lock<K, V>(map: &Mutex<HashMap<K, V>>) -> std::sync::MutexGuard<'_, HashMap<K, V>> {
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

    #[tokio::test]
    async fn a_cancelled_work_item_tells_its_hold_even_before_it_waits() {
        let held = Arc::new(Held::default());
        let hold = held.work_item(7);
        let other = held.work_item(8);
        held.cancel(&[7, 99]);
        tokio::time::timeout(std::time::Duration::from_secs(5), hold.cancelled())
            .await
            .expect("the cancelled hold is told");
        let waited =
            tokio::time::timeout(std::time::Duration::from_millis(50), other.cancelled()).await;
        assert!(waited.is_err(), "a hold that was not cancelled is not told");
        drop(hold);
        drop(other);
        assert!(lock(&held.cancels).is_empty());
    }

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

//! Operator actions beyond one message to one instance: rewinding a failed instance and purging many
//! ended instances at once.

use crate::engine::{Error, Keel, Result};
use crate::store::{Error as StoreError, InstanceFilter, Rewound, Status};

impl Keel {
    /// Rewinds failed instance `id` to its last good point: the failures recorded after its last
    /// call no longer count, failed activities there run again from their first attempt, failed
    /// sub-orchestrations there are rewound too (only the incarnation the parent started: a purged
    /// child is started again, and an id another instance now holds fails the task with
    /// `InstanceExists`), and the instance runs on. The history keeps everything, with an
    /// `ExecutionRewound` event naming what it voided.
    pub async fn rewind(&self, id: &str, reason: &str) -> Result<Rewound> {
        let instance = self
            .status(id)
            .await?
            .ok_or_else(|| Error::NotFound(id.to_owned()))?;
        let not_failed = |status| Error::NotFailed {
            id: id.to_owned(),
            status,
        };
        if instance.status != Status::Failed {
            return Err(not_failed(instance.status));
        }
        let now = self.shared().clock.now_ms();
        match self.store().rewind(id, reason, now).await {
            Ok(Some(rewound)) => Ok(rewound),
            Ok(None) => Err(Error::NotFound(id.to_owned())),
            // It changed between the read and the write.
            Err(StoreError::Conflict(_)) => {
                let status = self.status(id).await?.map_or(Status::Running, |i| i.status);
                Err(not_failed(status))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Purges every ended instance (completed, failed, terminated) that `filter` selects; instances
    /// that have not ended are left alone. Returns how many were purged.
    pub async fn purge_matching(&self, filter: &InstanceFilter) -> Result<u64> {
        let mut filter = filter.clone();
        filter.limit = None;
        let ids: Vec<String> = self
            .list(&filter)
            .await?
            .into_iter()
            .filter(|i| i.status.is_terminal())
            .map(|i| i.id)
            .collect();
        Ok(self.store().purge_ended(ids).await?)
    }
}

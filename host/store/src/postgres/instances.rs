//! PostgreSQL: the reads of a turn and of a worker's poll (SQLite's `read.rs` for these): an
//! instance, its history and inbox, and what is due; with the text of what a claim may take, which
//! the claims share with [`Postgres::due_work`] so that the count and the claim agree.

use std::sync::LazyLock;

use sqlx::{PgExecutor, Row};

use super::Postgres;
use crate::read::{INSTANCE_COLUMNS, instance_from_row};
use crate::{HistoryRecord, Instance, Message, Result, parse_json, to_i64, to_u32, to_u64};
use keel_core::history::HistoryEvent;

/// The ids of the instances a claim at time `now` (an SQL parameter) may lease, as SQLite's
/// `claimable_instances`: a message is visible and nothing holds a lease; what a parked, failed or
/// suspended instance accepts. Selected from `instances i` alone (the inbox in `EXISTS`), so that a
/// claim can append `LIMIT n FOR NO KEY UPDATE OF i SKIP LOCKED`.
pub(super) fn claimable_instances(now: &str) -> String {
    format!(
        "SELECT i.id FROM instances i
         WHERE (i.locked_until IS NULL OR i.locked_until < {now})
           AND (i.not_before IS NULL OR i.not_before <= {now})
           AND i.status != 'Failed'
           AND EXISTS (SELECT 1 FROM inbox m WHERE m.instance = i.id AND m.visible_at <= {now}
                         AND (i.status != 'Parked' OR m.kind = 'Terminate')
                         AND (i.status != 'Suspended' OR m.kind IN ('Resume', 'Terminate')))"
    )
}

/// The work items a claim at time `now` (an SQL parameter) may lease, as SQLite's
/// `claimable_work_items`: visible, not leased, and not of a failed instance. A claim appends
/// `ORDER BY visible_at, id LIMIT n FOR NO KEY UPDATE OF w SKIP LOCKED`.
pub(super) fn claimable_work_items(now: &str) -> String {
    format!(
        "SELECT w.id FROM work_items w
         WHERE w.visible_at <= {now} AND (w.locked_until IS NULL OR w.locked_until < {now})
           AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.id = w.instance
                           AND i.status = 'Failed')"
    )
}

/// The events of execution `execution` of instance `id` with their sequence numbers, in order, read
/// on `db` (the pool, or a transaction's connection).
pub(super) async fn execution_events<'e>(
    db: impl PgExecutor<'e>,
    id: &str,
    execution: u32,
) -> Result<Vec<(u32, HistoryEvent)>> {
    let rows = sqlx::query(
        "SELECT seq, event FROM history WHERE instance = $1 AND execution = $2 ORDER BY seq",
    )
    .bind(id)
    .bind(i64::from(execution))
    .fetch_all(db)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                to_u32(r.try_get(0)?),
                parse_json("history event", r.try_get(1)?)?,
            ))
        })
        .collect()
}

impl Postgres {
    pub(crate) async fn instance(&self, id: &str) -> Result<Option<Instance>> {
        let row = sqlx::query(&format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        row.as_ref().map(instance_from_row).transpose()
    }

    pub(crate) async fn history(&self, id: &str) -> Result<Vec<HistoryRecord>> {
        let rows = sqlx::query(
            "SELECT execution, seq, recorded_at, event FROM history WHERE instance = $1
             ORDER BY execution, seq",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok(HistoryRecord {
                    execution: to_u32(r.try_get(0)?),
                    seq: to_u32(r.try_get(1)?),
                    recorded_at: to_u64(r.try_get(2)?),
                    event: parse_json("history event", &r.try_get::<String, _>(3)?)?,
                })
            })
            .collect()
    }

    pub(crate) async fn execution_history(
        &self,
        id: &str,
        execution: u32,
    ) -> Result<Vec<HistoryEvent>> {
        let events = execution_events(self.pool(), id, execution).await?;
        Ok(events.into_iter().map(|(_, event)| event).collect())
    }

    pub(crate) async fn inbox(
        &self,
        id: &str,
        now: u64,
    ) -> Result<Vec<(i64, Option<u32>, Message)>> {
        let rows = sqlx::query(
            "SELECT id, execution, message FROM inbox WHERE instance = $1 AND visible_at <= $2
             ORDER BY visible_at, id",
        )
        .bind(id)
        .bind(to_i64(now))
        .fetch_all(self.pool())
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    r.try_get(0)?,
                    r.try_get::<Option<i64>, _>(1)?.map(to_u32),
                    parse_json("inbox message", &r.try_get::<String, _>(2)?)?,
                ))
            })
            .collect()
    }

    pub(crate) async fn due_work(&self, now: u64, most: u32) -> Result<(u32, u32)> {
        static SQL: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT (SELECT COUNT(*) FROM ({} LIMIT $2) AS i)::BIGINT,
                        (SELECT COUNT(*) FROM ({} LIMIT $2) AS w)::BIGINT",
                claimable_instances("$1"),
                claimable_work_items("$1")
            )
        });
        let (instances, work_items): (i64, i64) = sqlx::query_as(&SQL)
            .bind(to_i64(now))
            .bind(i64::from(most))
            .fetch_one(self.pool())
            .await?;
        Ok((to_u32(instances), to_u32(work_items)))
    }

    pub(crate) async fn next_due(&self, now: u64) -> Result<Option<u64>> {
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT MIN(t) FROM (SELECT MIN(visible_at) AS t FROM inbox WHERE visible_at > $1
                                 UNION ALL
                                 SELECT MIN(visible_at) FROM work_items WHERE visible_at > $1) AS d",
        )
        .bind(to_i64(now))
        .fetch_one(self.pool())
        .await?;
        Ok(due.map(to_u64))
    }
}

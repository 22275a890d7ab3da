//! PostgreSQL: failed turns backed off or parked, and parked instances taken back, as SQLite's
//! `parking.rs` does.
//!
//! A failed turn is counted only while the failing worker still holds the instance's lease: the
//! counting update locks the row and checks the owner in one statement, and the transaction keeps
//! the row locked until the backoff or the parking that follows is written.

use sqlx::{PgConnection, Row};

use super::Postgres;
use crate::{AfterFailure, Result, TurnFailed, backoff, to_i64, to_u32};

impl Postgres {
    pub(crate) async fn turn_failed(&self, f: TurnFailed) -> Result<AfterFailure> {
        self.transaction(async |conn| turn_failed(conn, &f).await)
            .await
    }

    pub(crate) async fn unpark(&self, id: &str, now: u64) -> Result<bool> {
        self.transaction(async |conn| unpark(conn, id, now).await)
            .await
    }
}

/// Counts a failed turn of the instance its worker still leases, and backs it off or parks it.
async fn turn_failed(conn: &mut PgConnection, f: &TurnFailed) -> Result<AfterFailure> {
    let failures: Option<i64> = sqlx::query(
        "UPDATE instances SET turn_failures = turn_failures + 1, locked_by = NULL,
             locked_until = NULL, updated_at = $3
         WHERE id = $1 AND locked_by = $2
         RETURNING turn_failures",
    )
    .bind(&f.id)
    .bind(&f.owner)
    .bind(to_i64(f.now))
    .fetch_optional(&mut *conn)
    .await?
    .map(|r| r.try_get(0))
    .transpose()?;
    let Some(failures) = failures else {
        return Ok(AfterFailure::NotLeased);
    };
    let failures = to_u32(failures);
    // Like SQLite's, no wake: the instance's next turn is not due before its backoff, and a
    // parked instance has none.
    let after = if failures >= f.max_failures {
        let reason = format!(
            "{failures} turns in a row failed outside the orchestrator; the last: {}",
            f.reason
        );
        sqlx::query(
            "UPDATE instances SET status = 'Parked', parked = $2, not_before = NULL
             WHERE id = $1",
        )
        .bind(&f.id)
        .bind(reason)
        .execute(&mut *conn)
        .await?;
        AfterFailure::Parked
    } else {
        let at = f
            .now
            .saturating_add(backoff(failures, f.backoff_ms, f.max_backoff_ms));
        sqlx::query("UPDATE instances SET not_before = $2 WHERE id = $1")
            .bind(&f.id)
            .bind(to_i64(at))
            .execute(&mut *conn)
            .await?;
        AfterFailure::RetryAt(at)
    };
    Ok(after)
}

/// Takes a parked instance back; false if it is not parked.
async fn unpark(conn: &mut PgConnection, id: &str, now: u64) -> Result<bool> {
    // Back to Pending if it never completed a turn, else Running; its next turn decides the rest.
    let done = sqlx::query(
        "UPDATE instances SET status = CASE WHEN history_len = 0 THEN 'Pending' ELSE 'Running' END,
             parked = NULL, turn_failures = 0, not_before = NULL, updated_at = $2
         WHERE id = $1 AND status = 'Parked'",
    )
    .bind(id)
    .bind(to_i64(now))
    .execute(&mut *conn)
    .await?
    .rows_affected();
    if done != 1 {
        return Ok(false);
    }
    // Its waiting messages can be claimed again.
    super::wake_workers(conn).await?;
    Ok(true)
}

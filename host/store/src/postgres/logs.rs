//! PostgreSQL: what guests wrote while an instance ran, as SQLite's `logs.rs` keeps it. A batch of
//! lines is one `INSERT … SELECT FROM UNNEST`, in the transaction that commits them.

use sqlx::{PgConnection, Row};

use super::Postgres;
use crate::logs::{LogLine, StoredLogLine};
use crate::{Result, to_i64, to_u32, to_u64};

/// Appends `lines`, in order.
pub(super) async fn insert(conn: &mut PgConnection, lines: &[LogLine]) -> Result<()> {
    if lines.is_empty() {
        return Ok(());
    }
    let mut instance = Vec::with_capacity(lines.len());
    let mut execution = Vec::with_capacity(lines.len());
    let mut at = Vec::with_capacity(lines.len());
    let mut source = Vec::with_capacity(lines.len());
    let mut task = Vec::with_capacity(lines.len());
    let mut attempt = Vec::with_capacity(lines.len());
    let mut stream = Vec::with_capacity(lines.len());
    let mut text = Vec::with_capacity(lines.len());
    for line in lines {
        instance.push(line.instance.as_str());
        execution.push(i64::from(line.execution));
        at.push(to_i64(line.at_ms));
        source.push(line.source.as_str());
        task.push(line.task.map(i64::from));
        attempt.push(line.attempt.map(i64::from));
        stream.push(line.stream.as_str());
        text.push(line.text.as_str());
    }
    sqlx::query(
        "INSERT INTO logs (instance, execution, at_ms, source, task, attempt, stream, text)
         SELECT l.i, l.e, l.a, l.s, l.t, l.n, l.st, l.x
         FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::TEXT[], $5::BIGINT[],
                     $6::BIGINT[], $7::TEXT[], $8::TEXT[])
              WITH ORDINALITY AS l(i, e, a, s, t, n, st, x, o)
         ORDER BY l.o",
    )
    .bind(&instance)
    .bind(&execution)
    .bind(&at)
    .bind(&source)
    .bind(&task)
    .bind(&attempt)
    .bind(&stream)
    .bind(&text)
    .execute(conn)
    .await?;
    Ok(())
}

impl Postgres {
    pub(crate) async fn logs(
        &self,
        id: &str,
        after: i64,
        limit: u32,
    ) -> Result<Vec<StoredLogLine>> {
        let rows = sqlx::query(
            "SELECT id, instance, execution, at_ms, source, task, attempt, stream, text FROM logs
             WHERE instance = $1 AND id > $2 ORDER BY id LIMIT $3",
        )
        .bind(id)
        .bind(after)
        .bind(i64::from(limit))
        .fetch_all(self.pool())
        .await?;
        let mut lines = Vec::with_capacity(rows.len());
        for row in &rows {
            lines.push(StoredLogLine {
                id: row.try_get(0)?,
                line: LogLine {
                    instance: row.try_get(1)?,
                    execution: to_u32(row.try_get(2)?),
                    at_ms: to_u64(row.try_get(3)?),
                    source: row.try_get(4)?,
                    task: row.try_get::<Option<i64>, _>(5)?.map(to_u32),
                    attempt: row.try_get::<Option<i64>, _>(6)?.map(to_u32),
                    stream: row.try_get(7)?,
                    text: row.try_get(8)?,
                },
            });
        }
        Ok(lines)
    }

    pub(crate) async fn prune_logs(&self, before_ms: u64) -> Result<u64> {
        self.transaction(async |conn| {
            Ok(sqlx::query("DELETE FROM logs WHERE at_ms < $1")
                .bind(to_i64(before_ms))
                .execute(&mut *conn)
                .await?
                .rows_affected())
        })
        .await
    }
}

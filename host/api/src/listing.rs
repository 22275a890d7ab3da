//! Instance queries of the API: `GET /api/instances` with its filters and continuation tokens, and
//! `DELETE /api/instances` purging every ended instance a filter selects.
//!
//! Times are accepted as milliseconds since the Unix epoch or as RFC 3339 UTC timestamps
//! (`2026-11-25T10:00:00Z`, fractions of a second allowed). A page that is full carries the token of
//! the next one in the `x-continuation-token` response header (as Durable Functions does).

use axum::Json;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::routes::ApiQuery;
use super::{ApiError, AppState};
use keel_engine::store::{InstanceFilter, Status};

/// Default and largest page of an instance listing.
const DEFAULT_LIMIT: u32 = 100;
const MAX_LIMIT: u32 = 1_000;

/// The response header carrying the next page's token.
pub(crate) const CONTINUATION_HEADER: &str = "x-continuation-token";

/// Query of `GET /api/instances` and `DELETE /api/instances`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ListQuery {
    status: Option<String>,
    name: Option<String>,
    created_from: Option<String>,
    created_to: Option<String>,
    limit: Option<u32>,
    continuation_token: Option<String>,
}

impl ListQuery {
    fn filter(self) -> Result<InstanceFilter, ApiError> {
        let status = match self.status.as_deref().filter(|s| !s.is_empty()) {
            Some(s) => Some(s.parse::<Status>().map_err(ApiError::BadRequest)?),
            None => None,
        };
        let time = |field: &str, value: Option<String>| {
            value
                .filter(|v| !v.is_empty())
                .map(|v| {
                    parse_time(&v).ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "{field} {v:?} is neither milliseconds since the epoch nor an RFC 3339 UTC time"
                        ))
                    })
                })
                .transpose()
        };
        let after = match self.continuation_token.as_deref().filter(|t| !t.is_empty()) {
            Some(token) => Some(decode_token(token).ok_or_else(|| {
                ApiError::BadRequest(format!("continuationToken {token:?} is not valid"))
            })?),
            None => None,
        };
        Ok(InstanceFilter {
            status,
            name: self.name.filter(|n| !n.is_empty()),
            limit: Some(self.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT)),
            created_from: time("createdFrom", self.created_from)?,
            created_to: time("createdTo", self.created_to)?,
            after,
        })
    }
}

/// `GET /api/instances`: newest first, filtered by status, orchestrator name and creation time.
pub(crate) async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let filter = query.filter()?;
    let limit = filter.limit.unwrap_or(DEFAULT_LIMIT) as usize;
    let instances = state.keel.list(&filter).await?;
    let next = instances
        .last()
        .filter(|_| instances.len() == limit)
        .map(|last| encode_token(last.created_at, &last.id));
    let mut response = Json(instances).into_response();
    if let Some(token) = next
        && let Ok(value) = HeaderValue::from_str(&token)
    {
        response.headers_mut().insert(CONTINUATION_HEADER, value);
    }
    Ok(response)
}

/// `DELETE /api/instances`: purges every ended instance the filter selects (at least one filter is
/// required, so that a bare `DELETE` cannot empty the store by accident).
pub(crate) async fn purge_many(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let unfiltered = [
        &query.status,
        &query.name,
        &query.created_from,
        &query.created_to,
    ]
    .iter()
    .all(|v| v.as_deref().is_none_or(str::is_empty));
    if unfiltered {
        return Err(ApiError::BadRequest(
            "give at least one of status, name, createdFrom, createdTo".into(),
        ));
    }
    let mut filter = query.filter()?;
    filter.after = None;
    let purged = state.keel.purge_matching(&filter).await?;
    Ok(Json(json!({"instancesDeleted": purged})))
}

fn encode_token(created_at: u64, id: &str) -> String {
    format!("{created_at}.{}", hex::encode(id))
}

fn decode_token(token: &str) -> Option<(u64, String)> {
    let (at, id) = token.split_once('.')?;
    let id = String::from_utf8(hex::decode(id).ok()?).ok()?;
    Some((at.parse().ok()?, id))
}

/// Milliseconds since the epoch, from a number or an RFC 3339 UTC time.
fn parse_time(text: &str) -> Option<u64> {
    if let Ok(ms) = text.parse::<u64>() {
        return Some(ms);
    }
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once(['T', ' '])?;
    let mut date = date.splitn(3, '-').map(str::parse::<i64>);
    let (y, m, d) = (date.next()?.ok()?, date.next()?.ok()?, date.next()?.ok()?);
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut hms = hms.splitn(3, ':').map(str::parse::<i64>);
    let (h, min, s) = (hms.next()?.ok()?, hms.next()?.ok()?, hms.next()?.ok()?);
    // Four-digit years, as RFC 3339 has them, keep the arithmetic below far from overflowing.
    if !(0..=9999).contains(&y)
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
        || !(0..=23).contains(&h)
        || !(0..=59).contains(&min)
        || !(0..=60).contains(&s)
    {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let digits: String = frac.chars().chain("000".chars()).take(3).collect();
        digits.parse::<i64>().ok()?
    };
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(((days * 24 + h) * 60 + min) * 60 * 1000 + s * 1000 + ms).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_beyond_four_digit_years_are_refused_without_overflowing() {
        assert_eq!(parse_time("9223372036854775807-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("-5-01-01T00:00:00Z"), None);
        assert_eq!(parse_time("2026-01-01T-1:00:00Z"), None);
        assert!(parse_time("9999-12-31T23:59:59.999Z").is_some());
    }

    #[test]
    fn times_parse_as_epoch_milliseconds() {
        assert_eq!(parse_time("1764064800000"), Some(1_764_064_800_000));
        assert_eq!(parse_time("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_time("2026-11-25T10:00:00.250Z"),
            Some(1_795_600_800_250)
        );
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("2026-13-01T00:00:00Z"), None);
    }

    #[test]
    fn tokens_round_trip() {
        let token = encode_token(42, "order/1 ü");
        assert_eq!(decode_token(&token), Some((42, "order/1 ü".to_owned())));
        assert_eq!(decode_token("nonsense"), None);
    }
}

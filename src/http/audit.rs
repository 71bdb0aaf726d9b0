//! Audit queries: `GET /v1/audit` and `GET {lock}/history`. Support and admin
//! keys see every tenant's events; a client key sees its own account's only.

use actix_web::web::{Data, Query};
use actix_web::HttpResponse;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::ApiError;
use super::extract::{Caller, LockPath};
use super::AppState;
use crate::domain::{page_limit, InvalidInput, KeyId, LockName, NamespaceName, Principal};
use crate::http::api_schema::{AuditFilters, ErrorResponse, LockAddress, ReadErrors};
use crate::store::audit::{self, AuditEvent, AuditQuery, Order, Position};
use crate::tenancy::Access;

#[derive(Serialize)]
pub struct EventPage {
    pub events: Vec<AuditEvent>,
    pub next_cursor: Option<String>,
}

/// Audit events, filtered and keyset-paginated. Clients see only their own
/// account's events; support and admin keys see every tenant's.
#[utoipa::path(get, path = "/v1/audit", tag = "audit", params(AuditFilters),
    responses((status = 200, description = "`{\"events\": [...], \"next_cursor\"}`", body = Object), ReadErrors))]
pub async fn search(
    state: Data<AppState>,
    Caller(caller): Caller,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let query = restrict(parse_query(&params, false)?, &caller);
    page(&state, &query).await
}

/// One lock's audit events, filtered and paginated as for `/v1/audit`.
#[utoipa::path(get, path = "/v1/namespaces/{namespace}/locks/{name}/history", tag = "audit",
    params(LockAddress, AuditFilters),
    responses((status = 200, description = "`{\"events\": [...], \"next_cursor\"}`", body = Object),
        (status = 404, description = "`namespace_not_found`", body = ErrorResponse), ReadErrors))]
pub async fn history(
    state: Data<AppState>,
    Caller(caller): Caller,
    path: LockPath,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<HttpResponse, ApiError> {
    let namespace = state.namespaces.authorize(&caller, path.namespace_for(&caller), Access::Read).await?;
    let mut query = parse_query(&params, true)?;
    query.namespace = Some(namespace.as_str().to_owned());
    query.name = Some(path.name.as_str().to_owned());
    // A semaphore may share the lock's name; its events are not the lock's.
    query.kind = query.kind.or(Some("lock"));
    page(&state, &restrict(query, &caller)).await
}

async fn page(state: &AppState, query: &AuditQuery) -> Result<HttpResponse, ApiError> {
    let found = state.db(audit::search(&state.pool, query)).await?;
    let next_cursor = found.next.map(|at| encode_cursor(query.order, at));
    Ok(HttpResponse::Ok().json(EventPage { events: found.events, next_cursor }))
}

/// A client key sees only its own account's events.
pub fn restrict(mut query: AuditQuery, caller: &Principal) -> AuditQuery {
    if let Some(account) = caller.audit_account() {
        query.only_account_id = Some(account);
    }
    query
}

fn invalid(code: &'static str, message: impl Into<String>) -> InvalidInput {
    InvalidInput::new(code, message)
}

/// Reads the filters; empty values count as absent, so that an HTML form's
/// blank fields filter nothing. `for_lock` refuses `namespace` and `name`,
/// which the path gives.
pub fn parse_query(params: &[(String, String)], for_lock: bool) -> Result<AuditQuery, InvalidInput> {
    let mut query = AuditQuery::default();
    let mut cursor = None;
    for (key, value) in params.iter().filter(|(_, v)| !v.is_empty()) {
        match key.as_str() {
            "namespace" if !for_lock => {
                query.namespace = Some(NamespaceName::parse(value)?.as_str().to_owned())
            }
            "name" if !for_lock => query.name = Some(LockName::parse(value)?.as_str().to_owned()),
            "account" => query.account = Some(value.clone()),
            "key_id" => {
                let id = KeyId::parse(value)
                    .ok_or_else(|| invalid("invalid_key_id", "key ids are 16 hex digits"))?;
                query.key_id = Some(id.as_str().to_owned());
            }
            "event" => query.events.push(parse_event(value)?),
            "kind" => query.kind = Some(parse_kind(value)?),
            "fencing_token" => {
                let token = value.parse().map_err(|_| invalid("invalid_fencing_token", "an integer"))?;
                query.fencing_token = Some(token);
            }
            "since" => query.since = Some(parse_time("since", value)?),
            "until" => query.until = Some(parse_time("until", value)?),
            "order" => query.order = parse_order(value)?,
            "limit" => query.limit = parse_limit(value)?,
            "cursor" => cursor = Some(value.as_str()),
            other => {
                return Err(invalid("invalid_query", format!("unknown query parameter {other:?}")));
            }
        }
    }
    query.after = cursor.map(|c| decode_cursor(c, query.order)).transpose()?;
    Ok(query)
}

fn parse_event(value: &str) -> Result<String, InvalidInput> {
    let valid = (1..=32).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    if !valid {
        return Err(invalid("invalid_event", "event is a name such as acquired, renewed, released, expired"));
    }
    Ok(value.to_owned())
}

fn parse_kind(value: &str) -> Result<&'static str, InvalidInput> {
    match value {
        "lock" => Ok("lock"),
        "semaphore" => Ok("semaphore"),
        _ => Err(invalid("invalid_kind", "kind is lock or semaphore")),
    }
}

fn parse_time(field: &str, value: &str) -> Result<DateTime<Utc>, InvalidInput> {
    DateTime::parse_from_rfc3339(value).map(|t| t.with_timezone(&Utc)).map_err(|_| {
        invalid("invalid_time", format!("{field} must be an RFC 3339 time, like 2026-11-23T03:12:00Z"))
    })
}

fn parse_order(value: &str) -> Result<Order, InvalidInput> {
    match value {
        "asc" => Ok(Order::Asc),
        "desc" => Ok(Order::Desc),
        _ => Err(invalid("invalid_order", "order is asc or desc")),
    }
}

/// `limit`, as for every listing; one that is not a number is refused as one
/// out of range is.
fn parse_limit(value: &str) -> Result<i64, InvalidInput> {
    page_limit(Some(value.parse().unwrap_or(0)))
}

/// An opaque cursor: the order it was issued for and the sort key of the
/// last event of the page, `<a|d>:<occurred_at in µs>:<id>`, in base64url.
pub fn encode_cursor(order: Order, at: Position) -> String {
    let tag = if order == Order::Asc { 'a' } else { 'd' };
    URL_SAFE_NO_PAD.encode(format!("{tag}:{}:{}", at.occurred_at.timestamp_micros(), at.id))
}

pub fn decode_cursor(cursor: &str, order: Order) -> Result<Position, InvalidInput> {
    let bad = || invalid("invalid_cursor", "cursor is not one this server issued for this order");
    let text = String::from_utf8(URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?).map_err(|_| bad())?;
    let mut parts = text.split(':');
    let tag = if order == Order::Asc { "a" } else { "d" };
    if parts.next() != Some(tag) {
        return Err(bad());
    }
    let micros = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let id = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let occurred_at = DateTime::from_timestamp_micros(micros).ok_or_else(bad)?;
    match parts.next() {
        None => Ok(Position { occurred_at, id }),
        Some(_) => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn cursors_round_trip_and_remember_their_order() {
        let at =
            Position { occurred_at: DateTime::from_timestamp_micros(1_795_000_000_123_456).unwrap(), id: 42 };
        let cursor = encode_cursor(Order::Desc, at);
        assert_eq!(decode_cursor(&cursor, Order::Desc).unwrap(), at);
        assert!(decode_cursor(&cursor, Order::Asc).is_err());
        assert!(decode_cursor("bm9wZQ", Order::Desc).is_err());
    }

    #[test]
    fn events_repeat_and_blank_fields_filter_nothing() {
        let query =
            parse_query(&pairs(&[("event", "acquired"), ("event", "expired"), ("namespace", "")]), false)
                .unwrap();
        assert_eq!(query.events, ["acquired", "expired"]);
        assert!(query.namespace.is_none());
    }

    #[test]
    fn bad_filters_have_stable_codes() {
        for (key, value, code) in [
            ("limit", "1001", "invalid_limit"),
            ("limit", "0", "invalid_limit"),
            ("since", "yesterday", "invalid_time"),
            ("order", "up", "invalid_order"),
            ("event", "DROP TABLE", "invalid_event"),
            ("key_id", "xyz", "invalid_key_id"),
            ("cursor", "!!", "invalid_cursor"),
            ("colour", "red", "invalid_query"),
        ] {
            assert_eq!(parse_query(&pairs(&[(key, value)]), false).unwrap_err().code, code, "{key}={value}");
        }
        assert_eq!(parse_query(&pairs(&[("name", "x")]), true).unwrap_err().code, "invalid_query");
    }
}

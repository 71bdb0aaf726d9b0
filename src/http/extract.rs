//! Request extractors: the authenticated caller, the lock a path names, a
//! bounded JSON body and the lock token.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{BytesMut, Data};
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;
use tracing_actix_web::RootSpan;

use super::error::ApiError;
use super::AppState;
use crate::domain::{ApiKey, InvalidInput, LockName, NamespaceName, Principal};

/// The authenticated caller.
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<Data<AppState>>().cloned();
        let key = presented_key(req);
        let span = req.extensions().get::<RootSpan>().cloned();
        let req = req.clone();
        Box::pin(async move {
            let (state, key) = (state.expect("AppState is registered"), key.ok_or(ApiError::Unauthorized)?);
            if let Some(span) = span {
                span.record("key_id", key.id().as_str());
            }
            let principal = state.auth.authenticate(&key).await?;
            Ok(Caller(super::subdomain::scoped(&req, &state, principal).await?))
        })
    }
}

/// The presented API key itself, for deriving retry-stable lock tokens. Use
/// it beside `Caller`, which has verified it.
pub struct PresentedKey(pub ApiKey);

impl FromRequest for PresentedKey {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(presented_key(req).map(PresentedKey).ok_or(ApiError::Unauthorized))
    }
}

/// The key from `Authorization: Bearer <key>` or `Basic base64(<key>:)`.
pub(crate) fn presented_key(req: &HttpRequest) -> Option<ApiKey> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credentials) = value.split_once(' ')?;
    let credentials = credentials.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return ApiKey::parse(credentials);
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = String::from_utf8(STANDARD.decode(credentials).ok()?).ok()?;
        let (user, _password) = decoded.split_once(':').unwrap_or((&decoded, ""));
        return ApiKey::parse(user);
    }
    None
}

/// The lock a path names: `/v1/locks/{name}` (the caller's default namespace)
/// or `/v1/namespaces/{namespace}/locks/{name}`.
pub struct LockPath {
    pub namespace: Option<NamespaceName>,
    pub name: LockName,
}

impl LockPath {
    pub fn namespace_for(&self, caller: &Principal) -> NamespaceName {
        self.namespace.clone().unwrap_or_else(|| caller.namespace.clone())
    }
}

impl FromRequest for LockPath {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(lock_path(req))
    }
}

fn lock_path(req: &HttpRequest) -> Result<LockPath, ApiError> {
    let info = req.match_info();
    let namespace = info.get("namespace").map(namespace_not_found_unless_valid).transpose()?;
    let name = LockName::parse(info.get("name").unwrap_or_default())?;
    Ok(LockPath { namespace, name })
}

/// A namespace in a path that cannot exist is simply not found.
pub fn namespace_not_found_unless_valid(raw: &str) -> Result<NamespaceName, ApiError> {
    NamespaceName::parse(raw).map_err(|_| crate::domain::LockError::NamespaceNotFound.into())
}

/// A JSON body read up to the configured limit; an empty body, or `null` (as
/// the OpenAPI document allows), is `T::default()`.
/// The content type is not checked, so `curl -d '{...}'` works as typed.
pub struct JsonBody<T>(pub T);

impl<T: DeserializeOwned + Default + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let limit = req.app_data::<Data<AppState>>().map_or(16 * 1024, |s| s.body_limit);
        let declared =
            req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        let mut payload = payload.take();
        Box::pin(async move {
            if declared.is_some_and(|len| len > limit) {
                return Err(ApiError::PayloadTooLarge(limit));
            }
            let mut body = BytesMut::new();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk
                    .map_err(|_| InvalidInput::new("invalid_body", "the request body could not be read"))?;
                if body.len() + chunk.len() > limit {
                    return Err(ApiError::PayloadTooLarge(limit));
                }
                body.extend_from_slice(&chunk);
            }
            parse_json(&body).map(JsonBody)
        })
    }
}

fn parse_json<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    // No field may hold a NUL, and PostgreSQL's text and jsonb could not
    // store one: refused here for every body, as `refuse_nul` does for URLs.
    if body.windows(6).any(|w| w.eq_ignore_ascii_case(b"\\u0000")) {
        let message = "the request body may not contain a NUL character (\\u0000)";
        return Err(InvalidInput::new("invalid_json", message).into());
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: Option<T> = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let code = match (inner.classify(), field.as_str()) {
            (serde_json::error::Category::Data, "ttl_seconds") => "invalid_ttl",
            (serde_json::error::Category::Data, "owner") => "invalid_owner",
            (serde_json::error::Category::Data, "wait_seconds") => "invalid_wait",
            (serde_json::error::Category::Data, "lock_token") => "invalid_lock_token",
            (serde_json::error::Category::Data, _) => "invalid_body",
            _ => "invalid_json",
        };
        let message = match field.as_str() {
            "." | "" => format!("the request body is not acceptable JSON: {inner}"),
            field => format!("{field}: {inner}"),
        };
        ApiError::from(InvalidInput::new(code, message))
    })?;
    de.end().map_err(|e| {
        InvalidInput::new("invalid_json", format!("the request body is not acceptable JSON: {e}"))
    })?;
    Ok(value.unwrap_or_default())
}

/// The lease's token from `Lock-Token`, `X-Lock-Token`, or the body.
pub fn lock_token(req: &HttpRequest, from_body: Option<String>) -> Result<String, ApiError> {
    let header = ["lock-token", "x-lock-token"]
        .iter()
        .find_map(|name| req.headers().get(*name)?.to_str().ok().map(str::to_owned));
    header.or(from_body).filter(|t| !t.is_empty()).ok_or_else(|| {
        InvalidInput::new(
            "missing_lock_token",
            "send the lease's lock token in the Lock-Token header or as \"lock_token\" in the body",
        )
        .into()
    })
}

/// The request's Idempotency-Key: 1 to 255 visible ASCII characters.
pub fn idempotency_key(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else { return Ok(None) };
    let key = value
        .to_str()
        .ok()
        .filter(|k| (1..=255).contains(&k.len()) && k.bytes().all(|b| b.is_ascii_graphic()));
    key.map(Some).ok_or_else(|| {
        let message = "Idempotency-Key must be 1 to 255 visible ASCII characters";
        InvalidInput::new("invalid_idempotency_key", message).into()
    })
}

/// Middleware: a URL whose path or query carries a NUL character is refused
/// for every route at once, since no name, cursor or filter may hold one (and
/// PostgreSQL's text could not store it).
pub async fn refuse_nul(
    req: actix_web::dev::ServiceRequest,
    next: actix_web::middleware::Next<impl actix_web::body::MessageBody>,
) -> Result<actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>, actix_web::Error> {
    let uri = req.uri();
    let encoded_nul = |part: &str| part.contains("%00");
    if encoded_nul(uri.path()) || uri.query().is_some_and(encoded_nul) {
        let message = "the URL may not contain a NUL character (%00)";
        return Err(ApiError::from(InvalidInput::new("invalid_url", message)).into());
    }
    next.call(req).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::dto::AcquireBody;

    fn code(body: &str) -> &'static str {
        match parse_json::<AcquireBody>(body.as_bytes()) {
            Err(ApiError::Invalid(e)) => e.code,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn empty_body_means_defaults() {
        let body: AcquireBody = parse_json(b"  \n").unwrap();
        assert!(body.ttl_seconds.is_none() && body.owner.is_none());
    }

    #[test]
    fn errors_say_which_field() {
        assert_eq!(code("{"), "invalid_json");
        assert_eq!(code("{} {}"), "invalid_json");
        assert_eq!(code(r#"{"ttl_seconds": "ten"}"#), "invalid_ttl");
        assert_eq!(code(r#"{"ttl_seconds": 1.5}"#), "invalid_ttl");
        assert_eq!(code(r#"{"owner": 7}"#), "invalid_owner");
        assert_eq!(code(r#"{"colour": "red"}"#), "invalid_body");
        assert_eq!(code("[1]"), "invalid_body");
    }
}

use actix_web::web::Data;
use actix_web::HttpResponse;
use serde_json::json;

use super::AppState;
use crate::store::schema::{self, SchemaState};

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(),
    responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and its schema is the one this build expects.
#[utoipa::path(get, path = "/readyz", tag = "health", security(),
    responses((status = 200, description = "Ready"), (status = 503, description = "The database does not answer, or its schema is not this build's")))]
pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    match state.db(schema::state(&state.pool)).await {
        Ok(SchemaState::Current) => HttpResponse::Ok().json(json!({"status": "ready"})),
        Ok(other) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": format!("schema is not current: {other:?}")})),
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "reason": "the database does not answer"})),
    }
}

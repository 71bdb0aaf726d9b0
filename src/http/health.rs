use actix_web::web::Data;
use actix_web::HttpResponse;
use serde_json::json;

use super::AppState;
use crate::durability::{self, Durability};
use crate::store::schema::{self, SchemaState};
use crate::store::StoreError;

/// The process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", security(),
    responses((status = 200, description = "The process is up")))]
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// The database answers and its schema is the one this build expects. The
/// body also says whether an acknowledged lease survives a failover
/// (`durability`: `safe`, `weakened` or `unsafe`, with a `warning`).
#[utoipa::path(get, path = "/readyz", tag = "health", security(),
    responses((status = 200, description = "Ready"), (status = 503, description = "The database does not answer, or its schema is not this build's")))]
pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    let checks = async {
        let schema = schema::state(&state.pool).await?;
        let durability = durability::inspect(&state.pool).await?;
        Ok::<_, StoreError>((schema, durability))
    };
    match state.db(checks).await {
        Ok((SchemaState::Current, durability)) => {
            let level = match durability {
                Durability::Safe => "safe",
                Durability::Weakened(_) => "weakened",
                Durability::Unsafe(_) => "unsafe",
            };
            let mut body = json!({"status": "ready", "durability": level});
            if let Some(warning) = durability.warning() {
                body["warning"] = warning.into();
            }
            HttpResponse::Ok().json(body)
        }
        Ok((other, _)) => HttpResponse::ServiceUnavailable()
            .json(json!({"status": "unavailable", "reason": format!("schema is not current: {other:?}")})),
        Err(_) => HttpResponse::ServiceUnavailable()
            .insert_header(("Retry-After", "1"))
            .json(json!({"status": "unavailable", "reason": "the database does not answer"})),
    }
}

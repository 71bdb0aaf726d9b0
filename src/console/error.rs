use actix_web::http::{header, StatusCode};
use actix_web::{HttpResponse, ResponseError};
use maud::html;

use super::layout;
use crate::domain::InvalidInput;
use crate::http::error::ApiError;
use crate::store::StoreError;

/// What goes wrong in the console, answered as a page (or a redirect to
/// sign in), never as JSON.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    #[error("please sign in")]
    SignIn,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("{0}")]
    NotFound(String),
    #[error("the database is unavailable; try again shortly")]
    Unavailable,
    #[error("something went wrong; it has been logged")]
    Internal,
}

impl From<StoreError> for ConsoleError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return Self::Unavailable;
        }
        tracing::error!(error = ?e, "console request failed");
        Self::Internal
    }
}

impl From<InvalidInput> for ConsoleError {
    fn from(e: InvalidInput) -> Self {
        Self::BadRequest(e.message)
    }
}

impl From<ApiError> for ConsoleError {
    fn from(e: ApiError) -> Self {
        match e.status_code() {
            StatusCode::NOT_FOUND => Self::NotFound(e.to_string()),
            StatusCode::BAD_REQUEST => Self::BadRequest(e.to_string()),
            StatusCode::SERVICE_UNAVAILABLE => Self::Unavailable,
            StatusCode::FORBIDDEN => Self::Forbidden("you may not do that"),
            _ => {
                tracing::error!(error = ?e, "console request failed");
                Self::Internal
            }
        }
    }
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn => StatusCode::SEE_OTHER,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::SignIn = self {
            return super::see_other("/console/login");
        }
        let mut response = HttpResponse::build(self.status_code());
        if let Self::Unavailable = self {
            response.insert_header((header::RETRY_AFTER, "1"));
        }
        let body = html! {
            h1 { (self.status_code().canonical_reason().unwrap_or("Error")) }
            p role="alert" { (self.to_string()) }
            p { a href="/console" { "Back to the console" } }
        };
        layout::respond(&mut response, &layout::page("Error", None, body))
    }
}

//! Signing in and out of the console.

use actix_web::http::header;
use actix_web::web::{Data, Form};
use actix_web::{HttpRequest, HttpResponse};
use maud::html;
use serde::Deserialize;

use super::session::{
    cookie, hash, may_sign_in, random_token, same, set_cookie, AnySignedIn, LOGIN_COOKIE, LOGIN_FORM_SECONDS,
    SESSION_COOKIE,
};
use super::{layout, see_other, ConsoleError};
use crate::domain::ApiKey;
use crate::http::AppState;
use crate::store::console_sessions;

pub async fn login_form(req: HttpRequest) -> HttpResponse {
    login_page(&req, &mut HttpResponse::Ok(), None)
}

fn login_page(
    req: &HttpRequest,
    response: &mut actix_web::HttpResponseBuilder,
    error: Option<&str>,
) -> HttpResponse {
    let token = random_token();
    response.insert_header((
        header::SET_COOKIE,
        set_cookie(req, LOGIN_COOKIE, &token, "/console/login", LOGIN_FORM_SECONDS),
    ));
    let body = html! {
        h1 { "Sign in" }
        @if let Some(error) = error {
            p.error role="alert" { (error) }
        }
        form method="post" action="/console/login" {
            input type="hidden" name="csrf" value=(token);
            p {
                label for="key" { "API key " span.hint { "(a support, admin or owner key)" } }
                input #key type="password" name="key" autocomplete="off" required;
            }
            p { button type="submit" { "Sign in" } }
        }
    };
    layout::respond(response, &layout::page("Sign in", None, body))
}

#[derive(Deserialize)]
pub struct LoginForm {
    key: String,
    csrf: String,
}

pub async fn login(
    req: HttpRequest,
    state: Data<AppState>,
    Form(form): Form<LoginForm>,
) -> Result<HttpResponse, ConsoleError> {
    let paired = cookie(&req, LOGIN_COOKIE).is_some_and(|c| same(c.as_bytes(), form.csrf.as_bytes()));
    if !paired {
        return Ok(login_page(
            &req,
            &mut HttpResponse::Forbidden(),
            Some("The form expired; please sign in again."),
        ));
    }
    let principal = match ApiKey::parse(form.key.trim()) {
        Some(key) => state.auth.authenticate(&key).await.ok(),
        None => None,
    };
    let Some(principal) = principal.filter(may_sign_in) else {
        let message = "That is not an active support, admin or owner key.";
        return Ok(login_page(&req, &mut HttpResponse::Unauthorized(), Some(message)));
    };
    let (id, csrf) = (random_token(), random_token());
    let lifetime = state.console.session_seconds;
    let id_hash = hash(&id);
    let create =
        console_sessions::create(&state.pool, &id_hash, principal.key_id.as_str(), &csrf, lifetime as i64);
    state.db(create).await?;
    tracing::info!(key_id = %principal.key_id, "console sign-in");
    let home = if principal.owns_account() { "/console/account" } else { "/console/audit" };
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, home))
        .append_header((header::SET_COOKIE, set_cookie(&req, SESSION_COOKIE, &id, "/console", lifetime)))
        .append_header((header::SET_COOKIE, set_cookie(&req, LOGIN_COOKIE, "", "/console/login", 0)))
        .finish())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn logout(
    req: HttpRequest,
    state: Data<AppState>,
    AnySignedIn(user): AnySignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    state.db(console_sessions::delete(&state.pool, &user.session_hash)).await?;
    let mut response = see_other("/console/login");
    let expired = set_cookie(&req, SESSION_COOKIE, "", "/console", 0);
    response.headers_mut().append(header::SET_COOKIE, expired.parse().expect("a valid header value"));
    Ok(response)
}

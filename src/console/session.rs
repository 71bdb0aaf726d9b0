//! Signing in and out, the session cookie, and CSRF tokens.
//!
//! The session cookie holds 256 random bits; only their SHA-256 is stored.
//! It is HttpOnly, SameSite=Strict, limited to /console, Secure when the
//! request came over TLS, and expires with the session (`console.session_seconds`).
//! A session acts as the key it signed in with, and ends as soon as that key
//! is revoked or its account disabled. Forms carry the session's CSRF token;
//! the sign-in form carries a token paired with a short-lived cookie.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::{Data, Form};
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use maud::html;
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::{layout, see_other, ConsoleError};
use crate::domain::{ApiKey, KeyId, Principal};
use crate::http::AppState;
use crate::store::{console_sessions, keys};

const SESSION_COOKIE: &str = "lh_session";
const LOGIN_COOKIE: &str = "lh_login";
const LOGIN_FORM_SECONDS: u64 = 900;

/// A signed-in support or admin user.
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
    session_hash: [u8; 32],
}

impl SignedIn {
    /// Refuses a form whose CSRF token is not this session's.
    pub fn check_csrf(&self, presented: &str) -> Result<(), ConsoleError> {
        if same(presented.as_bytes(), self.csrf.as_bytes()) {
            Ok(())
        } else {
            Err(ConsoleError::Forbidden("this form has expired; reload the page and try again"))
        }
    }

    pub fn is_admin(&self) -> bool {
        self.principal.role == crate::domain::Role::Admin
    }
}

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ConsoleError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<Data<AppState>>().cloned().expect("AppState is registered");
        let id = cookie(req, SESSION_COOKIE);
        Box::pin(async move {
            let session_hash = hash(&id.ok_or(ConsoleError::SignIn)?);
            let live = state.db(console_sessions::find_live(&state.pool, &session_hash)).await?;
            let live = live.ok_or(ConsoleError::SignIn)?;
            let key_id = KeyId::parse(&live.key_id).ok_or(ConsoleError::SignIn)?;
            let active =
                state.db(keys::find_active(&state.pool, &key_id)).await?.ok_or(ConsoleError::SignIn)?;
            if !active.principal.sees_all_tenants() {
                return Err(ConsoleError::SignIn);
            }
            Ok(SignedIn { principal: active.principal, csrf: live.csrf_token, session_hash })
        })
    }
}

fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares in time independent of where the first difference is.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn set_cookie(req: &HttpRequest, name: &str, value: &str, path: &str, max_age: u64) -> String {
    let secure = if req.connection_info().scheme() == "https" { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

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
                label for="key" { "API key " span.hint { "(a support or admin key)" } }
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
    let Some(principal) = principal.filter(Principal::sees_all_tenants) else {
        let message = "That is not an active support or admin key.";
        return Ok(login_page(&req, &mut HttpResponse::Unauthorized(), Some(message)));
    };
    let (id, csrf) = (random_token(), random_token());
    let lifetime = state.console.session_seconds;
    let id_hash = hash(&id);
    let create =
        console_sessions::create(&state.pool, &id_hash, principal.key_id.as_str(), &csrf, lifetime as i64);
    state.db(create).await?;
    tracing::info!(key_id = %principal.key_id, "console sign-in");
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/console/audit"))
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
    user: SignedIn,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    state.db(console_sessions::delete(&state.pool, &user.session_hash)).await?;
    let mut response = see_other("/console/login");
    let expired = set_cookie(&req, SESSION_COOKIE, "", "/console", 0);
    response.headers_mut().append(header::SET_COOKIE, expired.parse().expect("a valid header value"));
    Ok(response)
}

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
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};

use super::ConsoleError;
use crate::domain::{KeyId, Principal};
use crate::http::AppState;
use crate::store::{console_sessions, keys};

pub(super) const SESSION_COOKIE: &str = "lh_session";
pub(super) const LOGIN_COOKIE: &str = "lh_login";
pub(super) const LOGIN_FORM_SECONDS: u64 = 900;

/// A signed-in support or admin user; as an extractor, a page only staff
/// see. An owner's session is answered 404 there (its pages are
/// [`OwnerSignedIn`]'s), so that nothing of another tenant shows.
pub struct SignedIn {
    pub principal: Principal,
    pub csrf: String,
    pub(super) session_hash: [u8; 32],
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

    pub fn is_owner(&self) -> bool {
        self.principal.owns_account()
    }
}

/// A signed-in owner: its own account's pages, and only those.
pub struct OwnerSignedIn(pub SignedIn);

/// Anyone signed in, staff or owner: for signing out.
pub struct AnySignedIn(pub SignedIn);

/// Support and admin keys see every tenant; an owner key its own account.
pub(super) fn may_sign_in(principal: &Principal) -> bool {
    principal.sees_all_tenants() || principal.owns_account()
}

/// The live session the request's cookie names, of a key that may still
/// sign in; anything else is "please sign in".
async fn session(state: Data<AppState>, id: Option<String>) -> Result<SignedIn, ConsoleError> {
    let session_hash = hash(&id.ok_or(ConsoleError::SignIn)?);
    let live = state.db(console_sessions::find_live(&state.pool, &session_hash)).await?;
    let live = live.ok_or(ConsoleError::SignIn)?;
    let key_id = KeyId::parse(&live.key_id).ok_or(ConsoleError::SignIn)?;
    let active = state.db(keys::find_active(&state.pool, &key_id)).await?.ok_or(ConsoleError::SignIn)?;
    if !may_sign_in(&active.principal) {
        return Err(ConsoleError::SignIn);
    }
    Ok(SignedIn { principal: active.principal, csrf: live.csrf_token, session_hash })
}

fn not_found() -> ConsoleError {
    ConsoleError::NotFound("there is no such page".into())
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, ConsoleError>>>>;

/// The request's session, given to `pick`, which says whether its page is
/// one this session may see.
fn extract<T: 'static>(req: &HttpRequest, pick: fn(SignedIn) -> Result<T, ConsoleError>) -> Extracted<T> {
    let state = req.app_data::<Data<AppState>>().cloned().expect("AppState is registered");
    let id = cookie(req, SESSION_COOKIE);
    Box::pin(async move { pick(session(state, id).await?) })
}

impl FromRequest for SignedIn {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |user| if user.principal.sees_all_tenants() { Ok(user) } else { Err(not_found()) })
    }
}

impl FromRequest for OwnerSignedIn {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |user| if user.is_owner() { Ok(OwnerSignedIn(user)) } else { Err(not_found()) })
    }
}

impl FromRequest for AnySignedIn {
    type Error = ConsoleError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        extract(req, |user| Ok(AnySignedIn(user)))
    }
}

pub(super) fn cookie(req: &HttpRequest, name: &str) -> Option<String> {
    let header = req.headers().get(header::COOKIE)?.to_str().ok()?;
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

pub(super) fn hash(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

pub(super) fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Compares in time independent of where the first difference is.
pub(super) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

pub(super) fn set_cookie(req: &HttpRequest, name: &str, value: &str, path: &str, max_age: u64) -> String {
    let secure = if req.connection_info().scheme() == "https" { "; Secure" } else { "" };
    format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}")
}

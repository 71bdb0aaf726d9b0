//! An owner's keys: the account's client and owner keys by id, and forms to
//! create, revoke and rotate them. These are the self-service actions of the
//! API (`crate::admin::self_service`), recorded in the admin log with the
//! owner's key. A new key's secret is shown once, on the page the form's POST
//! answers: never in a URL, never logged.

use actix_web::web::{Data, Form, Path, Query};
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{self, encode};
use super::session::{OwnerSignedIn, SignedIn};
use super::{see_other, ConsoleError};
use crate::admin::actions::Actor;
use crate::admin::{self_service, AdminError, KeyCreated};
use crate::domain::Role;
use crate::http::admin::{actor, keys::parse_grace};
use crate::http::error::ApiError;
use crate::http::AppState;
use crate::store::keys::KeyInfo;

/// The admin log's record of an owner acting through the console.
pub(super) fn console_actor(req: &HttpRequest, user: &SignedIn) -> Actor {
    let mut actor = actor(req, &user.principal);
    actor.source.push_str(" (console)");
    actor
}

/// An action refused (bad input, a plan that forbids it, a duplicate) as a
/// page that says why; anything else as the console answers it.
pub(super) fn refusal(e: AdminError) -> ConsoleError {
    let e = ApiError::from(e);
    match e.status_code().as_u16() {
        404 => ConsoleError::NotFound(e.to_string()),
        400..=499 => ConsoleError::BadRequest(e.to_string()),
        _ => e.into(),
    }
}

/// The outcome a form's redirect names, said once on the page it leads to.
#[derive(Deserialize)]
pub struct Notice {
    pub(super) notice: Option<String>,
}

pub async fn show(
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    Query(notice): Query<Notice>,
) -> Result<HttpResponse, ConsoleError> {
    let keys = state.db(self_service::list_keys(&state.pool, &user.principal)).await.map_err(refusal)?;
    let body = html! {
        h1 { "Keys" }
        @if notice.notice.as_deref() == Some("revoked") {
            p.notice role="status" { "The key was revoked; it stops working within a minute on every server." }
        }
        (keys_table(&user, &keys))
        h2 { "New key" }
        form method="post" action="/console/account/keys" {
            input type="hidden" name="csrf" value=(user.csrf);
            p {
                label for="role" { "Role" }
                select #role name="role" {
                    option value="client" { "client: takes locks" }
                    option value="owner" { "owner: also manages this account" }
                }
            }
            p {
                label for="namespace" { "Namespace " span.hint { "(optional: the key's default)" } }
                input #namespace type="text" name="namespace";
            }
            p { button #create-key type="submit" { "Create key" } }
        }
    };
    Ok(layout::ok(layout::page("Keys", Some(&user), body)))
}

fn keys_table(user: &SignedIn, keys: &[KeyInfo]) -> Markup {
    html! {
        table #keys {
            caption { "This account's client and owner keys by id; secrets are never shown again (times in UTC)" }
            thead { tr { @for h in ["Key id", "Role", "Namespace", "Created", "Last used", "Status", "Actions"] { th scope="col" { (h) } } } }
            tbody {
                @for key in keys {
                    tr {
                        th scope="row" { code { (key.key_id) } }
                        td { (key.role) }
                        td { (key.namespace) }
                        td { (layout::time(key.created_at)) }
                        td { @if let Some(at) = key.last_used_at { (layout::time(at)) } @else { "never" } }
                        td { (layout::key_status(key.revoked_at, key.expires_at)) }
                        td {
                            @if key.revoked_at.is_none() && key.key_id != user.principal.key_id.as_str() {
                                (action(user, &key.key_id, "revoke", "Revoke"))
                            }
                            @if key.revoked_at.is_none() && key.expires_at.is_none() {
                                (action(user, &key.key_id, "rotate", "Rotate (the old key works one more day)"))
                            }
                        }
                    }
                }
            }
        }
    }
}

fn action(user: &SignedIn, key_id: &str, verb: &str, label: &str) -> Markup {
    html! {
        form.action method="post" action={ "/console/account/keys/" (encode(key_id)) "/" (verb) } {
            input type="hidden" name="csrf" value=(user.csrf);
            button.danger[verb == "revoke"] type="submit" { (label) }
        }
    }
}

#[derive(Deserialize)]
pub struct CreateForm {
    csrf: String,
    role: String,
    namespace: Option<String>,
}

pub async fn create(
    req: HttpRequest,
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    Form(form): Form<CreateForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let role: Role = form.role.parse()?;
    let namespace = form.namespace.as_deref().map(str::trim).filter(|n| !n.is_empty());
    let actor = console_actor(&req, &user);
    let create = self_service::create_key(&state.pool, &actor, &user.principal, role, namespace);
    let created = state.db(create).await.map_err(refusal)?;
    Ok(secret_page(&user, "Key created", &created, None))
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

pub async fn revoke(
    req: HttpRequest,
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    path: Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let actor = console_actor(&req, &user);
    state.db(self_service::revoke_key(&state.pool, &actor, &user.principal, &path)).await.map_err(refusal)?;
    Ok(see_other("/console/account/keys?notice=revoked"))
}

pub async fn rotate(
    req: HttpRequest,
    state: Data<AppState>,
    OwnerSignedIn(user): OwnerSignedIn,
    path: Path<String>,
    Form(form): Form<CsrfForm>,
) -> Result<HttpResponse, ConsoleError> {
    user.check_csrf(&form.csrf)?;
    let actor = console_actor(&req, &user);
    let grace = parse_grace(None)?;
    let rotate = self_service::rotate_key(&state.pool, &actor, &user.principal, &path, grace);
    let rotated = state.db(rotate).await.map_err(refusal)?;
    let note = html! {
        "It replaces " code { (rotated.replaces) } ", which keeps working until "
        (layout::time(rotated.old_key_expires_at)) "."
    };
    Ok(secret_page(&user, "Key rotated", &rotated.key, Some(note)))
}

/// The one page that shows a key's secret: answered to the POST, not
/// cacheable (`layout::respond` says no-store), never redirected to.
fn secret_page(user: &SignedIn, title: &str, key: &KeyCreated, note: Option<Markup>) -> HttpResponse {
    let body = html! {
        h1 { (title) }
        p.notice role="status" {
            "Copy the key now: this is the only time it is shown. "
            @if let Some(note) = note { (note) }
        }
        dl.facts {
            dt { "Key" } dd { code #new-key { (key.key) } }
            dt { "Key id" } dd { code { (key.key_id) } }
            dt { "Role" } dd { (key.role) }
            dt { "Namespace" } dd { (key.namespace) }
        }
        p { a href="/console/account/keys" { "Back to the keys" } }
    };
    layout::ok(layout::page(title, Some(user), body))
}

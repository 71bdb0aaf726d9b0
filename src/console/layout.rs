//! The page frame every console page shares, and its stylesheet (served by
//! the console itself: no CDN, no JavaScript).

use actix_web::http::header;
use actix_web::{HttpResponse, HttpResponseBuilder};
use chrono::{DateTime, SecondsFormat, Utc};
use maud::{html, Markup, DOCTYPE};

use super::session::SignedIn;

const STYLE: &str = include_str!("style.css");

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "max-age=3600"))
        .body(STYLE)
}

/// A whole page: title, navigation (when signed in) and `body`.
pub fn page(title: &str, user: Option<&SignedIn>, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Leasehold console" }
                link rel="stylesheet" href="/console/style.css";
            }
            body {
                a.skip href="#main" { "Skip to content" }
                header {
                    p.brand { "Leasehold console" }
                    @if let Some(user) = user {
                        nav aria-label="Main" {
                            ul {
                                @if user.is_owner() {
                                    li { a href="/console/account" { "Your account" } }
                                    li { a href="/console/account/keys" { "Keys" } }
                                } @else {
                                    li { a href="/console/audit" { "Audit search" } }
                                    li { a href="/console/accounts" { "Accounts" } }
                                    li { a href="/console/locks" { "Live locks" } }
                                }
                            }
                        }
                        form.signout method="post" action="/console/logout" {
                            input type="hidden" name="csrf" value=(user.csrf);
                            span { "Signed in with key " code { (user.principal.key_id) } " (" (user.principal.role) ")" }
                            " "
                            button type="submit" { "Sign out" }
                        }
                    }
                }
                main #main { (body) }
            }
        }
    }
}

/// Answers `markup` as HTML, with headers that keep it out of frames and
/// caches and forbid any script.
pub fn respond(response: &mut HttpResponseBuilder, markup: &Markup) -> HttpResponse {
    response
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'",
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(markup.clone().into_string())
}

pub fn ok(markup: Markup) -> HttpResponse {
    respond(&mut HttpResponse::Ok(), &markup)
}

/// A time in UTC, machine-readable too.
pub fn time(at: DateTime<Utc>) -> Markup {
    let iso = at.to_rfc3339_opts(SecondsFormat::Millis, true);
    html! { time datetime=(iso) { (iso) } }
}

/// A duration for people: 4 h 2 min, 3 min 5 s, 1.2 s.
/// A key's state: revoked, rotated (and until when it works), or active.
pub fn key_status(revoked_at: Option<DateTime<Utc>>, expires_at: Option<DateTime<Utc>>) -> Markup {
    html! {
        @if let Some(at) = revoked_at { "revoked " (time(at)) }
        @else if let Some(at) = expires_at { "rotated; valid until " (time(at)) }
        @else { "active" }
    }
}

pub fn duration(d: chrono::Duration) -> String {
    let ms = d.num_milliseconds().max(0);
    let s = ms / 1000;
    match s {
        0..=9 => format!("{:.1} s", ms as f64 / 1000.0),
        10..=59 => format!("{s} s"),
        60..=3599 => format!("{} min {} s", s / 60, s % 60),
        _ => format!("{} h {} min", s / 3600, (s % 3600) / 60),
    }
}

/// Path segments and query values, percent-encoded.
pub fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub fn lock_href(namespace: &str, name: &str) -> String {
    format!("/console/locks/{}/{}", encode(namespace), encode(name))
}

pub fn semaphore_href(namespace: &str, name: &str) -> String {
    format!("/console/semaphores/{}/{}", encode(namespace), encode(name))
}

/// The page of what an audit event is about: a lock or a semaphore.
pub fn subject_href(kind: &str, namespace: &str, name: &str) -> String {
    match kind {
        "semaphore" => semaphore_href(namespace, name),
        _ => lock_href(namespace, name),
    }
}

pub fn account_href(account: &str) -> String {
    format!("/console/accounts/{}", encode(account))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(chrono::Duration::milliseconds(1234)), "1.2 s");
        assert_eq!(duration(chrono::Duration::seconds(185)), "3 min 5 s");
        assert_eq!(duration(chrono::Duration::seconds(4 * 3600 + 120)), "4 h 2 min");
    }

    #[test]
    fn names_are_encoded_in_links() {
        assert_eq!(lock_href("acme", "a:b@c"), "/console/locks/acme/a%3Ab%40c");
    }
}

//! The support console at `/console`: server-rendered HTML (maud), usable
//! without JavaScript, for support and admin keys, and for owner keys their
//! own account's pages (`/console/account...`; any other page is 404 to an
//! owner). Sign-in makes a server-side
//! session (an HttpOnly, SameSite=Strict cookie holding a random id whose hash
//! is stored); every form that changes something carries a CSRF token.

mod account_page;
mod accounts_page;
mod address;
mod analysis_page;
mod audit_page;
mod chart;
mod error;
mod holders_table;
mod json;
mod layout;
mod leases_table;
mod live_locks_page;
mod lock_page;
mod owner_keys;
mod owner_page;
mod paging;
mod semaphore_page;
mod session;
mod sign_in;
mod timeline;

use actix_web::http::header;
use actix_web::web::{self, ServiceConfig};
use actix_web::HttpResponse;

pub use error::ConsoleError;

pub fn routes(cfg: &mut ServiceConfig) {
    cfg.service(web::resource("/console").route(web::get().to(home)))
        .service(web::resource("/console/style.css").route(web::get().to(layout::stylesheet)))
        .service(
            web::resource("/console/login")
                .route(web::get().to(sign_in::login_form))
                .route(web::post().to(sign_in::login)),
        )
        .service(web::resource("/console/logout").route(web::post().to(sign_in::logout)))
        .service(web::resource("/console/audit").route(web::get().to(audit_page::show)))
        .service(web::resource("/console/accounts").route(web::get().to(accounts_page::show)))
        .service(web::resource("/console/accounts/{account}").route(web::get().to(account_page::show)))
        .service(
            web::resource("/console/accounts/{account}/analysis")
                .route(web::get().to(analysis_page::account)),
        )
        .service(
            web::resource("/console/namespaces/{namespace}/analysis")
                .route(web::get().to(analysis_page::namespace)),
        )
        .service(web::resource("/console/account").route(web::get().to(owner_page::show)))
        .service(
            web::resource("/console/account/namespaces").route(web::post().to(owner_page::create_namespace)),
        )
        .service(
            web::resource("/console/account/keys")
                .route(web::get().to(owner_keys::show))
                .route(web::post().to(owner_keys::create)),
        )
        .service(
            web::resource("/console/account/keys/{key_id}/revoke").route(web::post().to(owner_keys::revoke)),
        )
        .service(
            web::resource("/console/account/keys/{key_id}/rotate").route(web::post().to(owner_keys::rotate)),
        )
        .service(web::resource("/console/locks").route(web::get().to(live_locks_page::show)))
        .service(web::resource("/console/locks/{namespace}/{name}").route(web::get().to(lock_page::show)))
        .service(
            web::resource("/console/locks/{namespace}/{name}/release")
                .route(web::post().to(lock_page::force_release)),
        )
        .service(
            web::resource("/console/semaphores/{namespace}/{name}")
                .route(web::get().to(semaphore_page::show)),
        );
}

async fn home(staff: Option<session::SignedIn>, owner: Option<session::OwnerSignedIn>) -> HttpResponse {
    let to = match (staff, owner) {
        (Some(_), _) => "/console/audit",
        (None, Some(_)) => "/console/account",
        (None, None) => "/console/login",
    };
    see_other(to)
}

/// A 303 to `to`: where a form's POST leads, and where the signed-out go.
pub fn see_other(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

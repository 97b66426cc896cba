//! The pages of the sign-in through the city's identity provider (see
//! `crate::oidc`): off to the provider, and back with a desk session for the
//! staff account of the login it vouches for.

use axum::extract::{Extension, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use serde::Deserialize;

use super::desk::{needs_https, session_cookie};
use super::frame::Frame;
use super::{Csrf, WebError, render, see_other};
use crate::oidc::{OidcError, PENDING_SECONDS, Pending};
use crate::{Https, Services};

/// Keeps state, nonce and PKCE verifier between the two requests.
const PENDING_COOKIE: &str = "amtstermin_oidc";
const RETURN_PATH: &str = "/schalter/anmelden/dienstkonto/rueckkehr";

fn redirect_uri(services: &Services, headers: &HeaderMap) -> String {
    format!("{}{RETURN_PATH}", super::site_base(services, headers))
}

fn pending_cookie(value: &str, max_age: i64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{PENDING_COOKIE}={value}; Path={RETURN_PATH}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Lax"
    ))
    .ok()
}

/// Signed in: the browser comes back from the provider's site, and a
/// redirect would carry that origin along, so the strict session cookie
/// would not go with it. The page goes on to the desk itself.
#[derive(askama::Template)]
#[template(path = "oidc_signed_in.html")]
struct SignedIn {
    frame: Frame,
}

/// A page that tells why the sign-in did not work, with the way back.
fn refused(status: StatusCode, text: &'static str) -> Result<Response, WebError> {
    let page = super::Message {
        frame: Frame::default(),
        heading: "Anmeldung mit dem Dienstkonto fehlgeschlagen",
        text,
        link: "/schalter/anmelden",
        link_label: "Zur Anmeldung",
    };
    Ok((status, render(&page)?).into_response())
}

pub async fn start(
    State(services): State<Services>,
    https: Option<Extension<Https>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if let Some(refusal) = needs_https(https, &headers) {
        return Ok(refusal);
    }
    let Some(oidc) = services.oidc.clone() else {
        return Err(WebError::NotFound(
            "Die Anmeldung mit dem Dienstkonto ist hier nicht eingerichtet.",
        ));
    };
    let (url, pending) = match oidc.start(&redirect_uri(&services, &headers)).await {
        Ok(started) => started,
        Err(error) => {
            tracing::warn!(%error, "identity provider unavailable");
            return Err(WebError::Unavailable);
        }
    };
    let expires = Utc::now().timestamp() + PENDING_SECONDS;
    let sealed = services
        .staff
        .seal(&format!(
            "{}.{}.{}.{expires}",
            pending.state, pending.nonce, pending.verifier
        ))
        .ok_or(WebError::Internal)?;
    let mut response = see_other(&url);
    if let Some(cookie) = pending_cookie(&sealed, PENDING_SECONDS) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

#[derive(Deserialize)]
pub struct Return {
    #[serde(default)]
    code: String,
    #[serde(default)]
    state: String,
    /// Set by the provider when the person did not sign in there.
    #[serde(default)]
    error: String,
}

/// The pending sign-in of the cookie, if it is this browser's, unexpired.
fn pending(services: &Services, headers: &HeaderMap) -> Option<Pending> {
    let sealed = super::cookie(headers, PENDING_COOKIE)?;
    let payload = services.staff.unseal(&sealed)?;
    let mut parts = payload.split('.');
    let (state, nonce, verifier, expires) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    (expires.parse::<i64>().ok()? >= Utc::now().timestamp()).then(|| Pending {
        state: state.to_owned(),
        nonce: nonce.to_owned(),
        verifier: verifier.to_owned(),
    })
}

pub async fn finish(
    State(services): State<Services>,
    headers: HeaderMap,
    Query(answer): Query<Return>,
) -> Result<Response, WebError> {
    let Some(oidc) = services.oidc.clone() else {
        return Err(WebError::NotFound(
            "Die Anmeldung mit dem Dienstkonto ist hier nicht eingerichtet.",
        ));
    };
    if !answer.error.is_empty() {
        return refused(
            StatusCode::UNAUTHORIZED,
            "Die Anmeldung beim Dienstkonto wurde abgebrochen.",
        );
    }
    let Some(pending) = pending(&services, &headers).filter(|pending| pending.state == answer.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "Diese Anmeldung ist abgelaufen oder gehört zu einem anderen Fenster. Bitte beginnen Sie neu.",
        );
    };
    let login = match oidc
        .finish(&redirect_uri(&services, &headers), pending, &answer.code)
        .await
    {
        Ok(login) => login,
        Err(OidcError::Provider(error)) => {
            tracing::warn!(%error, "identity provider unavailable");
            return Err(WebError::Unavailable);
        }
        Err(OidcError::Refused(error)) => {
            tracing::warn!(%error, "identity provider's answer refused");
            return refused(StatusCode::UNAUTHORIZED, "Das Dienstkonto wurde nicht bestätigt.");
        }
    };
    let Some(account) = services.staff_account(&login).await? else {
        tracing::warn!("a login the provider vouches for has no staff account here");
        return refused(
            StatusCode::FORBIDDEN,
            "Ihr Dienstkonto ist für die Terminvergabe nicht freigeschaltet. Bitte wenden Sie sich an die Verwaltung.",
        );
    };
    let csrf = Csrf::from_headers(&headers)?;
    let session = services
        .staff
        .session(&account, &csrf.token)
        .ok_or(WebError::Internal)?;
    tracing::info!("staff signed in through the identity provider");
    services
        .record(
            &account.offices,
            (&account.login, "staff.signed_in"),
            ("", "Dienstkonto (OpenID Connect)"),
        )
        .await;
    let mut response = csrf.respond(render(&SignedIn {
        frame: Frame::default(),
    })?);
    for cookie in [session_cookie(&session, 10 * 3600), pending_cookie("", 0)]
        .into_iter()
        .flatten()
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

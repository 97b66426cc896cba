//! The public website: the citizen's path from the concern to a binding
//! booking, and the private manage page. Server-rendered German HTML that
//! works without JavaScript, built on the same gRPC calls as the JSON API.

mod accounts;
mod admin;
mod audit;
mod board;
mod chart;
mod citizen;
mod desk;
mod feeds;
mod frame;
mod integrations;
mod kiosk;
mod live;
mod manage;
mod messages;
mod oidc;
mod pages;
mod statistics;
mod waitlist;

use askama::Template;
use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use crate::Services;
use amtstermin_platform::ErrorCode;

use crate::error::ApiError;

/// The largest administration form: a configuration document (the service
/// takes 512 KiB) sent form-encoded, which may double its size.
const ADMIN_BODY_LIMIT: usize = 1024 * 1024;

pub fn routes() -> Router<Services> {
    Router::new()
        .route("/", get(pages::offices))
        .route("/amt/{office}", get(citizen::start))
        .route("/amt/{office}/auswahl", get(citizen::choose))
        .route("/amt/{office}/kalender", get(citizen::calendar))
        .route("/amt/{office}/kalender/ereignisse", get(live::calendar_events))
        .route("/amt/{office}/buchen", get(citizen::form).post(citizen::submit))
        .route(
            "/amt/{office}/terminwecker",
            get(waitlist::join_form).post(waitlist::join),
        )
        .route("/termin/{code}", get(manage::show))
        .route(
            "/termin/{code}/bestaetigen",
            get(manage::confirm_booking_form).post(manage::confirm_booking),
        )
        .route(
            "/termin/{code}/absagen",
            get(manage::confirm_cancel).post(manage::cancel),
        )
        .route(
            "/termin/{code}/verschieben",
            get(manage::confirm_move).post(manage::reschedule),
        )
        .route("/warteliste/{id}", get(waitlist::show))
        .route(
            "/warteliste/{id}/bestaetigen",
            get(waitlist::confirm_form).post(waitlist::confirm),
        )
        .route(
            "/warteliste/{id}/zurueckziehen",
            axum::routing::post(waitlist::withdraw),
        )
        .route(
            "/warteliste/{id}/angebot/{offer}",
            get(waitlist::offer).post(waitlist::accept),
        )
        .route(
            "/warteliste/{id}/angebot/{offer}/ablehnen",
            get(waitlist::decline_form).post(waitlist::decline),
        )
        .route("/kalender/{office}/{file}", get(feeds::calendar))
        .route("/einchecken/{office}", get(kiosk::form).post(kiosk::check_in))
        .route("/einchecken/{office}/ohne-termin", axum::routing::post(kiosk::walk_in))
        .route("/aufruf/{office}", get(board::page))
        .route("/aufruf/{office}/ereignisse", get(board::events))
        .route("/verwaltung", get(admin::offices))
        .route(
            "/verwaltung/neues-amt",
            get(admin::new_office_form)
                .post(admin::create_office)
                .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT)),
        )
        .route("/verwaltung/konten", get(accounts::accounts).post(accounts::create))
        .route(
            "/verwaltung/konten/{login}",
            get(accounts::account).post(accounts::update),
        )
        .route(
            "/verwaltung/konten/{login}/passwort",
            axum::routing::post(accounts::reset_password),
        )
        .route(
            "/schalter/passwort",
            get(accounts::password_form).post(accounts::change_password),
        )
        .route(
            "/verwaltung/{office}",
            get(admin::editor)
                .post(admin::save)
                .layer(axum::extract::DefaultBodyLimit::max(ADMIN_BODY_LIMIT)),
        )
        .route("/verwaltung/{office}/aenderungen", get(admin::changes))
        .route("/verwaltung/{office}/protokoll", get(audit::page))
        .route("/verwaltung/{office}/protokoll.csv", get(audit::csv))
        .route(
            "/verwaltung/{office}/webhooks",
            get(integrations::webhooks).post(integrations::subscribe),
        )
        .route("/verwaltung/{office}/webhooks/{id}", get(integrations::deliveries))
        .route(
            "/verwaltung/{office}/webhooks/{id}/loeschen",
            axum::routing::post(integrations::unsubscribe),
        )
        .route(
            "/verwaltung/{office}/kalender",
            get(integrations::feeds).post(integrations::add_feed),
        )
        .route(
            "/verwaltung/{office}/kalender/{id}/widerrufen",
            axum::routing::post(integrations::revoke_feed),
        )
        .route(
            "/verwaltung/{office}/aenderungen/{version}/zuruecknehmen",
            axum::routing::post(admin::revert),
        )
        .route("/schalter", get(desk::offices))
        .route("/schalter/anmelden", get(desk::login_form).post(desk::login))
        .route("/schalter/abmelden", axum::routing::post(desk::logout))
        .route("/schalter/anmelden/dienstkonto", get(oidc::start))
        .route("/schalter/anmelden/dienstkonto/rueckkehr", get(oidc::finish))
        .route("/schalter/{office}", get(desk::day))
        .route("/schalter/{office}/laufkundschaft", axum::routing::post(desk::walk_in))
        .route("/schalter/{office}/ticket/{code}", get(desk::ticket))
        .route("/schalter/{office}/statistik", get(statistics::page))
        .route("/schalter/{office}/statistik.csv", get(statistics::csv))
        .route("/schalter/{office}/abwesenheit", axum::routing::post(desk::absence))
        .route(
            "/schalter/{office}/abwesenheit/{id}/aufheben",
            axum::routing::post(desk::lift_absence),
        )
        .route(
            "/schalter/{office}/platz/{counter}/aufrufen",
            axum::routing::post(desk::call_next),
        )
        .route(
            "/schalter/{office}/termine/{code}/status",
            axum::routing::post(desk::change_status),
        )
        .route(
            "/schalter/{office}/termine/{code}/verschieben",
            get(desk::move_choices).post(desk::move_booking),
        )
        .route(
            "/favicon.ico",
            get(|| async {
                (
                    StatusCode::MOVED_PERMANENTLY,
                    [(header::LOCATION, "/static/favicon.svg")],
                )
            }),
        )
        .route(
            "/static/favicon.svg",
            get(|| async { asset("image/svg+xml", include_str!("../../static/favicon.svg")) }),
        )
        .route("/impressum", get(pages::imprint))
        .route("/barrierefreiheit", get(pages::accessibility))
        .route("/datenschutz", get(pages::privacy))
        .route(
            "/static/style.css",
            get(|| async { asset("text/css; charset=utf-8", include_str!("../../static/style.css")) }),
        )
        .route(
            "/static/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", include_str!("../../static/app.js")) }),
        )
        .route(
            "/static/altcha-worker.js",
            get(|| async {
                asset(
                    "text/javascript; charset=utf-8",
                    include_str!("../../static/altcha-worker.js"),
                )
            }),
        )
}

/// Whether the request comes from a browser wanting a page: it asks for
/// HTML, and not for the JSON API.
fn wants_page(uri: &Uri, headers: &HeaderMap) -> bool {
    !uri.path().starts_with("/api/")
        && headers
            .get(header::ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

/// No route: a page address with a trailing slash leads to the one
/// without; browsers get a German page, API clients the JSON error.
pub async fn not_found(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if matches!(method, Method::GET | Method::HEAD)
        && path.len() > 1
        && path.ends_with('/')
        && !path.starts_with("/api/")
    {
        let trimmed = match path.trim_end_matches('/') {
            "" => "/",
            trimmed => trimmed,
        };
        let location = match uri.query() {
            Some(query) => format!("{trimmed}?{query}"),
            None => trimmed.to_owned(),
        };
        // "//evil.example" (or "/\evil.example", which browsers read alike)
        // would leave the site.
        if !trimmed.starts_with("//")
            && !trimmed.starts_with("/\\")
            && let Ok(location) = HeaderValue::from_str(&location)
        {
            return (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, location)]).into_response();
        }
    }
    if wants_page(&uri, &headers) {
        return WebError::NotFound(messages::text(ErrorCode::NotFound)).into_response();
    }
    ApiError::new(ErrorCode::NotFound, "no such resource").into_response()
}

/// A route without this method.
pub async fn method_not_allowed(uri: Uri, headers: HeaderMap) -> Response {
    if wants_page(&uri, &headers) {
        return WebError::MethodNotAllowed.into_response();
    }
    ApiError::new(ErrorCode::MethodNotAllowed, "method not allowed").into_response()
}

/// Assets are compiled into the binary: no CDN, no external fonts.
fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

/// Renders a page; a template error is an internal error.
fn render(template: &impl Template) -> Result<Html<String>, WebError> {
    template.render().map(Html).map_err(|error| {
        tracing::error!(%error, "template failed");
        WebError::Internal
    })
}

/// What went wrong, as a page for people.
#[derive(Debug)]
pub enum WebError {
    /// Staff pages without a desk session lead to the login.
    SignIn,
    /// Signed in, but the account's roles do not reach this page.
    Forbidden(&'static str),
    NotFound(&'static str),
    /// The state of things refuses the request (someone was quicker).
    Conflict(&'static str),
    MethodNotAllowed,
    BadRequest(&'static str),
    Unavailable,
    /// Too many requests from this address; try again after the seconds.
    RateLimited(u64),
    Internal,
}

impl From<ApiError> for WebError {
    fn from(error: ApiError) -> Self {
        if let (ErrorCode::RateLimited | ErrorCode::QuotaReached, Some(seconds)) = (error.code, error.retry_after) {
            return WebError::RateLimited(seconds);
        }
        match error.status() {
            StatusCode::NOT_FOUND => WebError::NotFound(messages::text(error.code)),
            StatusCode::SERVICE_UNAVAILABLE => WebError::Unavailable,
            status if status.is_client_error() => WebError::BadRequest(messages::text(error.code)),
            _ => WebError::Internal,
        }
    }
}

impl From<tonic::Status> for WebError {
    fn from(status: tonic::Status) -> Self {
        ApiError::from(status).into()
    }
}

#[derive(Template)]
#[template(path = "message.html")]
pub struct Message<'a> {
    frame: frame::Frame,
    heading: &'a str,
    text: &'a str,
    link: &'a str,
    link_label: &'a str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let retry_after = match self {
            WebError::RateLimited(seconds) => Some(seconds),
            _ => None,
        };
        let lang = crate::i18n::current();
        let wait;
        let (status, heading, text) = match self {
            WebError::SignIn => return see_other("/schalter/anmelden"),
            WebError::RateLimited(seconds) => {
                wait = messages::wait_a_while(seconds);
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    lang.t("error.too_many_heading"),
                    wait.as_str(),
                )
            }
            WebError::Forbidden(text) => (StatusCode::FORBIDDEN, lang.t("error.forbidden_heading"), text),
            WebError::NotFound(text) => (StatusCode::NOT_FOUND, lang.t("error.page_not_found"), text),
            WebError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                lang.t("error.method_heading"),
                lang.t("error.method_text"),
            ),
            WebError::BadRequest(text) => (StatusCode::BAD_REQUEST, lang.t("error.failed_heading"), text),
            WebError::Conflict(text) => (StatusCode::CONFLICT, lang.t("error.failed_heading"), text),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                lang.t("error.unavailable_heading"),
                lang.t("error.unavailable_text"),
            ),
            WebError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                lang.t("error.internal_heading"),
                lang.t("error.internal_text"),
            ),
        };
        let page = Message {
            frame: frame::Frame::default(),
            heading,
            text,
            link: "/",
            link_label: lang.t("site.home"),
        };
        let mut response = match page.render() {
            Ok(body) => (status, Html(body)).into_response(),
            Err(_) => status.into_response(),
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The double-submit token against cross-site form posts: a random value in
/// a SameSite=Strict cookie that every form repeats in a hidden field.
pub struct Csrf {
    pub token: String,
    /// Set when the browser had no token yet.
    set_cookie: Option<HeaderValue>,
}

const CSRF_COOKIE: &str = "amtstermin_csrf";

impl Csrf {
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, WebError> {
        if let Some(token) = cookie(headers, CSRF_COOKIE).filter(|token| token.len() == 32) {
            return Ok(Self {
                token,
                set_cookie: None,
            });
        }
        let token = random_hex(16)?;
        let cookie = format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict");
        Ok(Self {
            set_cookie: HeaderValue::from_str(&cookie).ok(),
            token,
        })
    }

    /// The token `token` (a desk session's), with the cookie set again
    /// where the browser lost it or holds another.
    pub fn with_token(headers: &HeaderMap, token: String) -> Self {
        let set_cookie = (cookie(headers, CSRF_COOKIE).as_deref() != Some(token.as_str()))
            .then(|| HeaderValue::from_str(&format!("{CSRF_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict")).ok())
            .flatten();
        Self { token, set_cookie }
    }

    /// Whether a posted form carries the browser's own token.
    pub fn verify(headers: &HeaderMap, posted: &str) -> Result<(), WebError> {
        match cookie(headers, CSRF_COOKIE) {
            Some(token) if !posted.is_empty() && token == posted => Ok(()),
            _ => Err(WebError::BadRequest(crate::i18n::current().t("form.expired"))),
        }
    }

    /// The page, with the cookie if it is new.
    pub fn respond(self, page: impl IntoResponse) -> Response {
        let mut response = page.into_response();
        if let Some(cookie) = self.set_cookie {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        response
    }
}

pub(crate) fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}

pub fn random_hex(bytes: usize) -> Result<String, WebError> {
    let mut buffer = vec![0u8; bytes];
    getrandom::fill(&mut buffer).map_err(|_| WebError::Internal)?;
    Ok(buffer.iter().map(|byte| format!("{byte:02x}")).collect())
}

/// Percent-encodes a query value.
pub fn encode(value: &str) -> String {
    let mut encoded = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            encoded.push(char::from(byte));
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

/// A 303 to `location` (after a successful form post).
/// A form page's status: 422 when it shows a refusal, else 200.
fn form_status(refused: bool) -> StatusCode {
    if refused {
        StatusCode::UNPROCESSABLE_ENTITY
    } else {
        StatusCode::OK
    }
}

/// The names after `prefix` of a form's ticked checkboxes (`prefix{name}`),
/// sorted: forms of several choices, read as a map.
fn ticked(form: &std::collections::HashMap<String, String>, prefix: &str) -> Vec<String> {
    let mut values: Vec<String> = form
        .keys()
        .filter_map(|key| key.strip_prefix(prefix))
        .map(str::to_owned)
        .collect();
    values.sort();
    values
}

/// The configured public address; without one, the address this request
/// came to.
fn site_base(services: &Services, headers: &HeaderMap) -> String {
    services.public_url.clone().unwrap_or_else(|| {
        let host = headers
            .get(header::HOST)
            .and_then(|host| host.to_str().ok())
            .unwrap_or("localhost");
        format!("http://{host}")
    })
}

pub fn see_other(location: &str) -> Response {
    match HeaderValue::from_str(location) {
        Ok(location) => (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response(),
        Err(_) => WebError::Internal.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(encode("2026-12-01T08:00:00+01:00"), "2026-12-01T08%3A00%3A00%2B01%3A00");
        assert_eq!(encode("a,b"), "a%2Cb");
    }

    #[test]
    fn the_csrf_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("x=1; amtstermin_csrf=abc; y=2"),
        );
        assert_eq!(cookie(&headers, CSRF_COOKIE).as_deref(), Some("abc"));
        assert!(Csrf::verify(&headers, "abc").is_ok());
        assert!(Csrf::verify(&headers, "abd").is_err());
        assert!(Csrf::verify(&HeaderMap::new(), "").is_err());
    }
}

//! The HTTP API's OpenAPI 3.1 document, generated from the handlers'
//! annotations. `utoipa-axum` builds the routes and the document from the
//! same lists, so the document cannot name an operation the router lacks,
//! nor miss one it serves. Served at [`PATH`]; CI runs schemathesis against
//! the running stack with it (`tests/openapi/run.sh`).

use amtstermin_platform::ErrorCode;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use utoipa::OpenApi;
use utoipa::openapi::path::Operation;
use utoipa::openapi::response::{Response as ResponseDoc, ResponseBuilder};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{Content, ObjectBuilder, Ref, RefOr, Schema, Type};
use utoipa_axum::router::OpenApiRouter;

use crate::view::{self, channel_name, status_name};
use crate::{Services, public_api, staff, staff_api};

/// Where the document is served.
pub const PATH: &str = "/api/v1/openapi.json";

#[derive(OpenApi)]
#[openapi(
    info(
        title = "amtstermin",
        description = "Appointments at a citizens' office: the public booking API and the staff API. \
                       Every error answers with `{\"error\":{\"code\",\"message\"}}`; the codes are stable.",
        license(name = "EUPL-1.2", identifier = "EUPL-1.2"),
    ),
    tags(
        (name = "public", description = "Offices, concerns, free times and the citizen's own booking."),
        (name = "staff", description = "The desk's tasks, for signed-in staff and internal systems."),
        (name = "operations", description = "Health and metrics."),
    ),
)]
struct ApiDoc;

/// The API's routes (public, staff, operations, and the document itself).
pub fn routes() -> Router<Services> {
    let (router, document) = assemble();
    // Rendered once: the document does not change while the process runs.
    let json = document.to_json().unwrap_or_else(|error| {
        tracing::error!(%error, "cannot render the OpenAPI document");
        String::from("{}")
    });
    let json = axum::body::Bytes::from(json);
    router.route(PATH, get(move || serve(json.clone())))
}

/// The whole document, as served.
pub fn document() -> utoipa::openapi::OpenApi {
    assemble().1
}

fn assemble() -> (Router<Services>, utoipa::openapi::OpenApi) {
    let (router, document) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(public_api::routes())
        .merge(crate::waitlist_api::routes())
        .merge(staff_api::routes())
        .merge(crate::operations_routes())
        .split_for_parts();
    (router, complete(document))
}

async fn serve(json: axum::body::Bytes) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("application/json")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300")),
        ],
        json,
    )
        .into_response()
}

/// What the annotations cannot say once per operation: the security schemes,
/// and the answers any request may get from the server's own limits and
/// from an outage.
fn complete(mut document: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BOOKING_TOKEN,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some("The booking's token, answered once when it was made (or the secret of the confirmation mail, to confirm)."))
                .build(),
        ),
    );
    components.add_security_scheme(
        STAFF_TOKEN,
        SecurityScheme::Http(
            Http::builder()
                .scheme(HttpAuthScheme::Bearer)
                .description(Some(
                    "The staff API token (`AMTSTERMIN_STAFF_API_TOKEN`), for internal systems.",
                ))
                .build(),
        ),
    );
    components.add_security_scheme(
        DESK_SESSION,
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
            staff::SESSION_COOKIE,
            "A desk session (sign in at /schalter). Changes also need this site's Origin or the X-CSRF-Token header.",
        ))),
    );
    let common = [
        (
            "408",
            "The request took too long to arrive or to answer (`request_timeout`).",
        ),
        ("414", "The address is too long (`uri_too_long`)."),
        ("431", "The headers are too large (`headers_too_large`)."),
        (
            "503",
            "A service is down (`service_unavailable`); try again after `Retry-After` seconds.",
        ),
    ];
    for item in document.paths.paths.values_mut() {
        for operation in operations(item) {
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::T(error_response(description)));
            }
            if operation.request_body.is_some() {
                operation
                    .responses
                    .responses
                    .entry("413".to_owned())
                    .or_insert_with(|| {
                        RefOr::T(error_response("The body is larger than 16 KiB (`payload_too_large`)."))
                    });
            }
        }
    }
    document
}

/// The security schemes' names.
pub const BOOKING_TOKEN: &str = "booking_token";
pub const STAFF_TOKEN: &str = "staff_token";
pub const DESK_SESSION: &str = "desk_session";

fn operations(item: &mut utoipa::openapi::PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        item.get.as_mut(),
        item.put.as_mut(),
        item.post.as_mut(),
        item.delete.as_mut(),
        item.patch.as_mut(),
        item.head.as_mut(),
    ]
    .into_iter()
    .flatten()
}

fn error_response(description: &str) -> ResponseDoc {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            Content::new(Some(RefOr::Ref(Ref::from_schema_name("Error")))),
        )
        .build()
}

fn string_enum<'a>(values: impl IntoIterator<Item = &'a str>, description: &str) -> Schema {
    let mut names: Vec<&str> = Vec::new();
    for value in values {
        // `invalid_status` names two codes (400 and 409); a JSON Schema enum
        // lists each value once.
        if !names.contains(&value) {
            names.push(value);
        }
    }
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .enum_values(Some(names))
            .description(Some(description))
            .build(),
    )
}

/// The stable error codes, as the `code` of an error answer.
pub(crate) fn error_code_schema() -> Schema {
    string_enum(
        ErrorCode::ALL.iter().map(|code| code.as_str()),
        "What went wrong, stable across versions (listed in the README).",
    )
}

/// A booking's status.
pub(crate) fn status_schema() -> Schema {
    string_enum(
        view::STATUSES.iter().map(|status| status_name(*status)),
        "`pending` until confirmed (where the office asks for confirmation by mail), then `booked`; \
         staff set `checked_in`, `completed` and `no_show`.",
    )
}

/// The statuses staff may set.
pub(crate) fn settable_status_schema() -> Schema {
    string_enum(
        view::STATUSES
            .iter()
            .filter(|status| view::parse_status(status_name(**status)).is_some())
            .map(|status| status_name(*status)),
        "`booked` (to undo a check-in or no-show), `checked_in`, `completed`, `no_show` or `cancelled`.",
    )
}

/// The channel a booking came through.
pub(crate) fn channel_schema() -> Schema {
    string_enum(
        view::CHANNELS.iter().map(|channel| channel_name(*channel)),
        "Where the booking was made: online, at the foyer desk, or by phone.",
    )
}

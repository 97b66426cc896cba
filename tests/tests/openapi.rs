//! The OpenAPI document at /api/v1/openapi.json: it lists every operation of
//! the HTTP API, and real answers of each (successes and errors) match the
//! schema it gives for their status. schemathesis (tests/openapi/run.sh)
//! fuzzes the same document in CI; this test covers the successful paths a
//! fuzzer cannot reach (a free time to book, a booking's token).

use std::collections::BTreeSet;

use amtstermin_tests::{Backend, STAFF_API_TOKEN, TestApp, backend_tests, booking_request, starts_of_a_day};
use serde_json::{Value, json};

backend_tests!(real_answers_match_the_document);

/// Method and path of every operation the API must document.
const OPERATIONS: &[(&str, &str)] = &[
    ("get", "/api/v1/offices"),
    ("get", "/api/v1/offices/{office}/concerns"),
    ("get", "/api/v1/offices/{office}/slots"),
    ("get", "/api/v1/challenge"),
    ("post", "/api/v1/bookings"),
    ("get", "/api/v1/bookings/{code}"),
    ("delete", "/api/v1/bookings/{code}"),
    ("post", "/api/v1/bookings/{code}/reschedule"),
    ("post", "/api/v1/bookings/{code}/confirm"),
    ("get", "/api/v1/bookings/{code}/calendar.ics"),
    ("post", "/api/v1/offices/{office}/waitlist"),
    ("get", "/api/v1/waitlist/{id}"),
    ("delete", "/api/v1/waitlist/{id}"),
    ("post", "/api/v1/waitlist/{id}/confirm"),
    ("post", "/api/v1/waitlist/{id}/offers/{offer}/accept"),
    ("post", "/api/v1/waitlist/{id}/offers/{offer}/decline"),
    ("get", "/api/v1/staff/offices/{office}/bookings"),
    ("post", "/api/v1/staff/offices/{office}/bookings/{code}/status"),
    ("post", "/api/v1/staff/offices/{office}/walk-ins"),
    ("post", "/api/v1/staff/offices/{office}/absences"),
    ("post", "/api/v1/staff/offices/{office}/counters/{counter}/call-next"),
    ("post", "/api/v1/staff/offices/{office}/bookings/{code}/recall"),
    ("get", "/api/v1/staff/offices/{office}/statistics"),
    ("get", "/api/v1/staff/offices/{office}/statistics.csv"),
    ("get", "/healthz"),
    ("get", "/metrics"),
];

async fn document(app: &TestApp) -> Value {
    let response = app
        .http
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json", "served as JSON");
    response.json().await.expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_lists_every_operation_with_its_answers() {
    let Some(app) = TestApp::spawn(Backend::Sqlite).await else {
        return;
    };
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let listed: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| ["get", "put", "post", "delete", "patch"].contains(&key.as_str()))
                .map(move |method| (method.clone(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = OPERATIONS
        .iter()
        .map(|(method, path)| ((*method).to_owned(), (*path).to_owned()))
        .collect();
    assert_eq!(listed, expected, "the document names exactly the API's operations");

    let schemes = &doc["components"]["securitySchemes"];
    for (method, path) in OPERATIONS {
        let operation = &doc["paths"][path][method];
        let responses = operation["responses"].as_object().expect("responses");
        assert!(
            responses.contains_key("503"),
            "{method} {path}: an outage is documented"
        );
        assert!(
            responses.keys().all(|status| status != "500"),
            "{method} {path}: no operation promises a server error"
        );
        if operation.get("requestBody").is_some() {
            assert!(responses.contains_key("413"), "{method} {path}: a body too large");
        }
        for requirement in operation["security"].as_array().into_iter().flatten() {
            for scheme in requirement.as_object().expect("requirement").keys() {
                assert!(
                    schemes.get(scheme).is_some(),
                    "{method} {path}: security scheme {scheme} is defined"
                );
            }
        }
    }
    // Every reference resolves.
    let mut references = Vec::new();
    collect_references(&doc, &mut references);
    assert!(!references.is_empty());
    for reference in references {
        assert!(resolve(&doc, &reference).is_some(), "{reference} resolves");
    }
    // The error codes are listed once each.
    let codes = doc["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
        .as_array()
        .expect("error codes");
    let unique: BTreeSet<&str> = codes.iter().filter_map(Value::as_str).collect();
    assert_eq!(unique.len(), codes.len());
    assert!(unique.contains("slot_taken") && unique.contains("rate_limited"));
}

async fn real_answers_match_the_document(backend: Backend) {
    let Some(app) = TestApp::spawn(backend).await else {
        return;
    };
    let doc = document(&app).await;
    let api = Api { app: &app, doc: &doc };

    api.call("get", "/api/v1/offices", "/api/v1/offices", None, None, 200)
        .await;
    api.call(
        "get",
        "/api/v1/offices/{office}/concerns",
        "/api/v1/offices/bergkamen/concerns",
        None,
        None,
        200,
    )
    .await;
    let slots = api
        .call(
            "get",
            "/api/v1/offices/{office}/slots",
            "/api/v1/offices/bergkamen/slots?concerns=personalausweis",
            None,
            None,
            200,
        )
        .await;
    api.call(
        "get",
        "/api/v1/offices/{office}/slots",
        "/api/v1/offices/atlantis/slots?concerns=personalausweis",
        None,
        None,
        404,
    )
    .await;
    api.call(
        "get",
        "/api/v1/challenge",
        "/api/v1/challenge?office=bergkamen",
        None,
        None,
        200,
    )
    .await;

    let starts = starts_of_a_day(&slots, 2);
    let booking = api
        .call(
            "post",
            "/api/v1/bookings",
            "/api/v1/bookings",
            Some(booking_request("bergkamen", &["personalausweis"], &starts[0])),
            None,
            201,
        )
        .await;
    api.call(
        "post",
        "/api/v1/bookings",
        "/api/v1/bookings",
        Some(booking_request("bergkamen", &["drachenzaehmung"], &starts[0])),
        None,
        404,
    )
    .await;
    let code = booking["code"].as_str().expect("code");
    let token = booking["token"].as_str().expect("token");
    let path = format!("/api/v1/bookings/{code}");
    api.call("get", "/api/v1/bookings/{code}", &path, None, Some(token), 200)
        .await;
    api.call("get", "/api/v1/bookings/{code}", &path, None, Some("wrong"), 404)
        .await;
    api.call(
        "post",
        "/api/v1/bookings/{code}/reschedule",
        &format!("{path}/reschedule"),
        Some(json!({ "start": starts[1] })),
        Some(token),
        200,
    )
    .await;
    api.call(
        "post",
        "/api/v1/bookings/{code}/reschedule",
        &format!("{path}/reschedule"),
        Some(json!({ "start": "tomorrow" })),
        Some(token),
        400,
    )
    .await;
    let calendar = app
        .http
        .get(app.url(&format!("{path}/calendar.ics?token={token}")))
        .send()
        .await
        .expect("request");
    assert_eq!(calendar.status(), 200);
    let documented = &doc["paths"]["/api/v1/bookings/{code}/calendar.ics"]["get"]["responses"]["200"]["content"];
    assert!(
        documented.get("text/calendar").is_some(),
        "the calendar's type is documented: {documented}"
    );
    assert!(
        calendar.headers()["content-type"]
            .to_str()
            .is_ok_and(|kind| kind.starts_with("text/calendar"))
    );

    let staff_bookings = "/api/v1/staff/offices/{office}/bookings";
    let walk_in = api
        .call(
            "post",
            "/api/v1/staff/offices/{office}/walk-ins",
            "/api/v1/staff/offices/bergkamen/walk-ins",
            Some(json!({ "concerns": ["allgemeine-beratung"], "name": "Laufkunde" })),
            Some(STAFF_API_TOKEN),
            201,
        )
        .await;
    let walk_in_code = walk_in["code"].as_str().expect("code");
    api.call(
        "post",
        "/api/v1/staff/offices/{office}/bookings/{code}/status",
        &format!("/api/v1/staff/offices/bergkamen/bookings/{walk_in_code}/status"),
        Some(json!({ "status": "checked_in" })),
        Some(STAFF_API_TOKEN),
        200,
    )
    .await;
    api.call(
        "get",
        staff_bookings,
        "/api/v1/staff/offices/bergkamen/bookings",
        None,
        Some(STAFF_API_TOKEN),
        200,
    )
    .await;
    api.call(
        "get",
        staff_bookings,
        "/api/v1/staff/offices/bergkamen/bookings",
        None,
        None,
        401,
    )
    .await;
    let day = starts[0].get(..10).expect("date");
    api.call(
        "post",
        "/api/v1/staff/offices/{office}/absences",
        "/api/v1/staff/offices/bergkamen/absences",
        Some(json!({
            "counter": "platz-1",
            "start": format!("{day}T00:00:00+00:00"),
            "end": format!("{day}T23:00:00+00:00"),
            "reason": "Fortbildung",
        })),
        Some(STAFF_API_TOKEN),
        201,
    )
    .await;

    let today = chrono::Utc::now().date_naive();
    let entry = api
        .call(
            "post",
            "/api/v1/offices/{office}/waitlist",
            "/api/v1/offices/bergkamen/waitlist",
            Some(json!({
                "concerns": ["personalausweis"],
                "from": (today + chrono::TimeDelta::days(3)).to_string(),
                "to": (today + chrono::TimeDelta::days(9)).to_string(),
                "name": "Erika Mustermann",
                "email": "erika.openapi@example.de",
            })),
            None,
            201,
        )
        .await;
    let entry_path = format!("/api/v1/waitlist/{}", entry["id"].as_str().expect("id"));
    let entry_token = entry["token"].as_str().expect("token");
    api.call(
        "get",
        "/api/v1/waitlist/{id}",
        &entry_path,
        None,
        Some(entry_token),
        200,
    )
    .await;
    api.call(
        "post",
        "/api/v1/waitlist/{id}/confirm",
        &format!("{entry_path}/confirm"),
        None,
        Some(entry_token),
        404,
    )
    .await;
    api.call(
        "delete",
        "/api/v1/waitlist/{id}",
        &entry_path,
        None,
        Some(entry_token),
        204,
    )
    .await;
    api.call(
        "post",
        "/api/v1/offices/{office}/waitlist",
        "/api/v1/offices/bergkamen/waitlist",
        Some(json!({ "concerns": ["personalausweis"], "from": "gestern", "to": "morgen", "name": "E", "email": "e@example.de" })),
        None,
        400,
    )
    .await;

    // Checked in, not called: nothing to recall.
    api.call(
        "post",
        "/api/v1/staff/offices/{office}/bookings/{code}/recall",
        &format!("/api/v1/staff/offices/bergkamen/bookings/{walk_in_code}/recall"),
        None,
        Some(STAFF_API_TOKEN),
        409,
    )
    .await;
    let statistics = api
        .call(
            "get",
            "/api/v1/staff/offices/{office}/statistics",
            "/api/v1/staff/offices/bergkamen/statistics?period=week",
            None,
            Some(STAFF_API_TOKEN),
            200,
        )
        .await;
    assert!(statistics["rows"].as_array().is_some_and(|rows| !rows.is_empty()));
    api.call(
        "get",
        "/api/v1/staff/offices/{office}/statistics",
        "/api/v1/staff/offices/bergkamen/statistics?from=2026-13-01",
        None,
        Some(STAFF_API_TOKEN),
        400,
    )
    .await;
    let csv = app
        .http
        .get(app.url("/api/v1/staff/offices/bergkamen/statistics.csv"))
        .bearer_auth(STAFF_API_TOKEN)
        .send()
        .await
        .expect("request");
    assert_eq!(csv.status(), 200);
    let documented =
        &doc["paths"]["/api/v1/staff/offices/{office}/statistics.csv"]["get"]["responses"]["200"]["content"];
    assert!(
        documented.get("text/csv").is_some(),
        "the CSV's type is documented: {documented}"
    );

    api.call("delete", "/api/v1/bookings/{code}", &path, None, Some(token), 204)
        .await;
    api.call("get", "/healthz", "/healthz", None, None, 200).await;
}

struct Api<'a> {
    app: &'a TestApp,
    doc: &'a Value,
}

impl Api<'_> {
    /// Calls `url` (an instance of the documented `path`), expects `status`,
    /// and checks the JSON answer against the schema documented for it.
    async fn call(
        &self,
        method: &str,
        path: &str,
        url: &str,
        body: Option<Value>,
        token: Option<&str>,
        status: u16,
    ) -> Value {
        let method_name = method.to_uppercase();
        let mut request = self.app.http.request(
            reqwest::Method::from_bytes(method_name.as_bytes()).expect("method"),
            self.app.url(url),
        );
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let answered = response.status().as_u16();
        let text = response.text().await.expect("body");
        assert_eq!(answered, status, "{method_name} {url}: {text}");
        let documented = &self.doc["paths"][path][method]["responses"][status.to_string()];
        assert!(documented.is_object(), "{method_name} {path}: {status} is documented");
        let Some(schema) = documented["content"]["application/json"].get("schema") else {
            assert!(text.is_empty(), "{method_name} {url}: no body documented, none sent");
            return Value::Null;
        };
        let value: Value = serde_json::from_str(&text).expect("JSON answer");
        let mut errors = Vec::new();
        check(self.doc, schema, &value, "$", &mut errors);
        assert!(
            errors.is_empty(),
            "{method_name} {url} ({status}) breaks the document:\n{}\n{value}",
            errors.join("\n")
        );
        value
    }
}

/// Checks `value` against the subset of JSON Schema the document uses. Any
/// property it does not name is an error too: the document must list all.
fn check(doc: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        match resolve(doc, reference) {
            Some(target) => check(doc, target, value, at, errors),
            None => errors.push(format!("{at}: unresolved {reference}")),
        }
        return;
    }
    for keyword in ["oneOf", "anyOf"] {
        if let Some(branches) = schema.get(keyword).and_then(Value::as_array) {
            let passing = branches
                .iter()
                .filter(|branch| {
                    let mut branch_errors = Vec::new();
                    check(doc, branch, value, at, &mut branch_errors);
                    branch_errors.is_empty()
                })
                .count();
            let fits = if keyword == "oneOf" { passing == 1 } else { passing >= 1 };
            if !fits {
                errors.push(format!("{at}: {passing} branches of {keyword} match"));
            }
        }
    }
    if let Some(types) = schema.get("type") {
        let types: Vec<&str> = match types {
            Value::String(name) => vec![name.as_str()],
            Value::Array(names) => names.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let actual = match value {
            Value::Null => "null",
            Value::Bool(_) => "boolean",
            Value::Number(number) if number.is_u64() || number.is_i64() => "integer",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        };
        let fits = types.contains(&actual) || (actual == "integer" && types.contains(&"number"));
        if !fits {
            errors.push(format!("{at}: a {actual}, documented as {types:?}"));
            return;
        }
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not among {allowed:?}"));
    }
    if let (Some(format), Some(text)) = (schema.get("format").and_then(Value::as_str), value.as_str()) {
        let valid = match format {
            "date-time" => chrono::DateTime::parse_from_rfc3339(text).is_ok(),
            "date" => chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !valid {
            errors.push(format!("{at}: {text:?} is no {format}"));
        }
    }
    if let Value::Object(fields) = value {
        let properties = schema.get("properties").and_then(Value::as_object);
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            if let Some(name) = required.as_str()
                && !fields.contains_key(name)
            {
                errors.push(format!("{at}: the required {name} is missing"));
            }
        }
        if let Some(properties) = properties {
            for (name, field) in fields {
                match properties.get(name) {
                    Some(property) => check(doc, property, field, &format!("{at}.{name}"), errors),
                    None => errors.push(format!("{at}.{name}: not in the document")),
                }
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, schema.get("items")) {
        for (index, item) in items.iter().enumerate() {
            check(doc, item_schema, item, &format!("{at}[{index}]"), errors);
        }
    }
}

fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

fn collect_references(value: &Value, into: &mut Vec<String>) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields {
                match (key.as_str(), field) {
                    ("$ref", Value::String(reference)) => into.push(reference.clone()),
                    _ => collect_references(field, into),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_references(item, into)),
        _ => {}
    }
}

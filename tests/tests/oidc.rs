//! Sign-in through the city's identity provider (OpenID Connect), against a
//! provider made here: discovery, keys and a token endpoint signing real ID
//! tokens (RS256, a key made for this test only).

use std::sync::{Arc, Mutex};

use amtstermin_tests::{STAFF_LOGIN, TestApp};
use axum::extract::{Form, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{TimeDelta, Utc};
use openidconnect::core::{
    CoreIdToken, CoreIdTokenClaims, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{
    Audience, EmptyAdditionalClaims, EndUserUsername, IssuerUrl, JsonWebKeyId, Nonce, PrivateSigningKey,
    StandardClaims, SubjectIdentifier,
};
use serde_json::{Value, json};

/// The provider's keys, made for these tests only; it signs with one of them.
const KEYS: [&str; 2] = [
    include_str!("../fixtures/oidc-test-key.pem"),
    include_str!("../fixtures/oidc-test-key-2.pem"),
];
const CLIENT_ID: &str = "amtstermin";

/// What the provider signs into its next ID token.
#[derive(Default)]
struct Next {
    login: String,
    nonce: String,
    /// The PKCE verifier the gateway sent, as the provider saw it.
    verifier: String,
    /// Which of `KEYS` the provider uses (and publishes) now.
    key: usize,
}

#[derive(Clone)]
struct Provider {
    base: String,
    next: Arc<Mutex<Next>>,
}

async fn discovery(State(provider): State<Provider>) -> Json<Value> {
    let base = &provider.base;
    Json(json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/authorize"),
        "token_endpoint": format!("{base}/token"),
        "jwks_uri": format!("{base}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
    }))
}

fn key(index: usize) -> CoreRsaPrivateSigningKey {
    CoreRsaPrivateSigningKey::from_pem(KEYS[index], Some(JsonWebKeyId::new(format!("key-{index}"))))
        .expect("the test key")
}

async fn jwks(State(provider): State<Provider>) -> Json<CoreJsonWebKeySet> {
    let index = provider.next.lock().expect("lock").key;
    Json(CoreJsonWebKeySet::new(vec![key(index).as_verification_key()]))
}

async fn token(
    State(provider): State<Provider>,
    Form(form): Form<std::collections::HashMap<String, String>>,
) -> (axum::http::StatusCode, Json<Value>) {
    if form.get("code").map(String::as_str) != Some("good-code") {
        return (
            axum::http::StatusCode::BAD_REQUEST,
            Json(json!({ "error": "invalid_grant" })),
        );
    }
    let (login, nonce, index) = {
        let mut next = provider.next.lock().expect("lock");
        next.verifier = form.get("code_verifier").cloned().unwrap_or_default();
        (next.login.clone(), next.nonce.clone(), next.key)
    };
    let now = Utc::now();
    let claims = CoreIdTokenClaims::new(
        IssuerUrl::new(provider.base.clone()).expect("issuer"),
        vec![Audience::new(CLIENT_ID.to_owned())],
        now + TimeDelta::minutes(5),
        now,
        StandardClaims::new(SubjectIdentifier::new("sub-1".to_owned()))
            .set_preferred_username(Some(EndUserUsername::new(login))),
        EmptyAdditionalClaims {},
    )
    .set_nonce(Some(Nonce::new(nonce)));
    let id_token = CoreIdToken::new(
        claims,
        &key(index),
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        None,
        None,
    )
    .expect("signed");
    (
        axum::http::StatusCode::OK,
        Json(json!({
            "access_token": "an-access-token",
            "token_type": "Bearer",
            "expires_in": 300,
            "id_token": id_token.to_string(),
        })),
    )
}

async fn provider() -> Provider {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let provider = Provider {
        base: format!("http://{}", listener.local_addr().expect("address")),
        next: Arc::default(),
    };
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks", get(jwks))
        .route("/token", post(token))
        .with_state(provider.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });
    provider
}

fn query_value(url: &str, name: &str) -> String {
    url.split_once('?')
        .map(|(_, query)| query)
        .into_iter()
        .flat_map(|query| query.split('&'))
        .filter_map(|pair| pair.split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.replace("%3A", ":").replace("%2F", "/"))
        .unwrap_or_default()
}

fn cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .filter_map(|value| value.split(';').next())
        .find(|pair| pair.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

/// Goes to the provider and back as `login`; the answer of the return, and
/// the session cookie it set.
async fn sign_in(app: &TestApp, provider: &Provider, login: &str, tamper: impl Fn(&mut Next)) -> (u16, Option<String>) {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    let started = client
        .get(app.url("/schalter/anmelden/dienstkonto"))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status().as_u16(), 303);
    let location = started
        .headers()
        .get("location")
        .and_then(|value| value.to_str().ok())
        .expect("to the provider")
        .to_owned();
    assert!(
        location.starts_with(&format!("{}/authorize?", provider.base)),
        "{location}"
    );
    assert!(
        location.contains("code_challenge_method=S256") && location.contains("client_id=amtstermin"),
        "{location}"
    );
    assert_eq!(
        query_value(&location, "redirect_uri"),
        "https://termine.bergkamen.example/schalter/anmelden/dienstkonto/rueckkehr"
    );
    let pending = cookie(&started, "amtstermin_oidc").expect("the pending sign-in");
    {
        let mut next = provider.next.lock().expect("lock");
        next.login = login.to_owned();
        next.nonce = query_value(&location, "nonce");
        tamper(&mut next);
    }
    let state = query_value(&location, "state");
    let returned = client
        .get(app.url(&format!(
            "/schalter/anmelden/dienstkonto/rueckkehr?code=good-code&state={state}"
        )))
        .header("cookie", &pending)
        .send()
        .await
        .expect("return");
    (returned.status().as_u16(), cookie(&returned, "amtstermin_staff"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_through_the_identity_provider_as_their_account() {
    let provider = provider().await;
    let issuer = provider.base.clone();
    let Some(app) = TestApp::spawn_with(amtstermin_tests::Backend::Sqlite, move |settings| {
        settings.gateway.staff.oidc = gateway::oidc::OidcSettings {
            issuer,
            client_id: CLIENT_ID.to_owned(),
            client_secret: "provider-secret".to_owned(),
            login_claim: "preferred_username".to_owned(),
        };
    })
    .await
    else {
        return;
    };
    let (status, form) = app.get_text("/schalter/anmelden").await;
    assert_eq!(status, 200);
    assert!(form.contains("Mit dem Dienstkonto anmelden"), "{form}");

    let (status, session) = sign_in(&app, &provider, STAFF_LOGIN, |_| {}).await;
    assert_eq!(status, 200, "signed in");
    assert!(!provider.next.lock().expect("lock").verifier.is_empty(), "PKCE used");
    let session = session.expect("a desk session");
    let desk = app
        .http
        .get(app.url("/schalter/bergkamen"))
        .header("cookie", &session)
        .send()
        .await
        .expect("desk");
    assert_eq!(desk.status().as_u16(), 200, "the account's desk");

    // The provider rotates its keys: the gateway fetches them anew.
    provider.next.lock().expect("lock").key = 1;
    let (status, session) = sign_in(&app, &provider, STAFF_LOGIN, |_| {}).await;
    assert_eq!(status, 200, "signed in with the new key");
    assert!(session.is_some());

    // Vouched for, but no account here: no entry.
    let (status, session) = sign_in(&app, &provider, "fremd", |_| {}).await;
    assert_eq!((status, session), (403, None));
    // A token for another sign-in (its nonce): refused.
    let (status, session) = sign_in(&app, &provider, STAFF_LOGIN, |next| next.nonce = "replayed".to_owned()).await;
    assert_eq!((status, session), (401, None));
    // A return without this browser's pending sign-in: refused.
    let stray = app
        .http
        .get(app.url("/schalter/anmelden/dienstkonto/rueckkehr?code=good-code&state=x"))
        .send()
        .await
        .expect("return");
    assert_eq!(stray.status().as_u16(), 400);
}

#[tokio::test]
async fn without_a_provider_the_sign_in_is_local_only() {
    let Some(app) = TestApp::spawn(amtstermin_tests::Backend::Sqlite).await else {
        return;
    };
    let (_, form) = app.get_text("/schalter/anmelden").await;
    assert!(!form.contains("Dienstkonto"));
    let started = app
        .http
        .get(app.url("/schalter/anmelden/dienstkonto"))
        .send()
        .await
        .expect("start");
    assert_eq!(started.status().as_u16(), 404);
}

//! Sign-in through the city's identity provider with OpenID Connect
//! (Keycloak, Active Directory Federation Services, …): the provider says
//! who someone is, the staff account of that login (the staff file's or a
//! stored one) says what they may do. Without an account here nobody gets
//! in, however the provider vouches; local passwords keep working.
//!
//! The authorization code flow with PKCE; state, nonce and the PKCE
//! verifier wait in a short-lived signed cookie between the two requests.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreProviderMetadata};
use openidconnect::{
    AuthorizationCode, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse,
};
use tokio::sync::RwLock;

/// How long the provider's metadata and keys are trusted before fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// How long a sign-in at the provider may take.
pub const PENDING_SECONDS: i64 = 600;

/// OpenID Connect settings (flags and `AMTSTERMIN_OIDC_…` variables).
#[derive(Clone, Default, clap::Args)]
pub struct OidcSettings {
    /// Issuer URL of the identity provider (its discovery document is below
    /// it, `/.well-known/openid-configuration`); empty: no such sign-in.
    #[arg(long = "oidc-issuer", env = "AMTSTERMIN_OIDC_ISSUER", default_value = "")]
    pub issuer: String,
    /// The client id registered at the provider for this site.
    #[arg(long = "oidc-client-id", env = "AMTSTERMIN_OIDC_CLIENT_ID", default_value = "")]
    pub client_id: String,
    /// Its secret.
    #[arg(
        long = "oidc-client-secret",
        env = "AMTSTERMIN_OIDC_CLIENT_SECRET",
        default_value = "",
        hide_env_values = true
    )]
    pub client_secret: String,
    /// Which claim of the ID token is the staff login: `preferred_username`,
    /// `email` or `sub`.
    #[arg(
        long = "oidc-login-claim",
        env = "AMTSTERMIN_OIDC_LOGIN_CLAIM",
        default_value = "preferred_username"
    )]
    pub login_claim: String,
}

impl std::fmt::Debug for OidcSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("login_claim", &self.login_claim)
            .finish_non_exhaustive()
    }
}

/// What waits between the redirect to the provider and its return.
pub struct Pending {
    pub state: String,
    pub nonce: String,
    pub verifier: String,
}

#[derive(Debug, thiserror::Error)]
pub enum OidcError {
    #[error("the identity provider cannot be reached or answered wrongly: {0}")]
    Provider(String),
    #[error("the identity provider's answer does not hold: {0}")]
    Refused(String),
}

pub struct Oidc {
    settings: OidcSettings,
    issuer: IssuerUrl,
    http: openidconnect::reqwest::Client,
    metadata: RwLock<Option<(Instant, CoreProviderMetadata)>>,
}

impl Oidc {
    /// The sign-in, if configured; a half configuration is refused.
    pub fn new(settings: &OidcSettings) -> anyhow::Result<Option<Arc<Self>>> {
        if settings.issuer.is_empty() {
            return Ok(None);
        }
        anyhow::ensure!(
            !settings.client_id.is_empty(),
            "AMTSTERMIN_OIDC_ISSUER is set but AMTSTERMIN_OIDC_CLIENT_ID is not"
        );
        anyhow::ensure!(
            matches!(settings.login_claim.as_str(), "preferred_username" | "email" | "sub"),
            "AMTSTERMIN_OIDC_LOGIN_CLAIM is preferred_username, email or sub"
        );
        let issuer = IssuerUrl::new(settings.issuer.clone())
            .map_err(|error| anyhow::anyhow!("AMTSTERMIN_OIDC_ISSUER is no URL: {error}"))?;
        // The provider's redirects are for the browser, not for this client.
        let http = openidconnect::reqwest::ClientBuilder::new()
            .redirect(openidconnect::reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Some(Arc::new(Self {
            settings: settings.clone(),
            issuer,
            http,
            metadata: RwLock::new(None),
        })))
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, OidcError> {
        if let Some((fetched, metadata)) = self.metadata.read().await.as_ref()
            && fetched.elapsed() < METADATA_TTL
        {
            return Ok(metadata.clone());
        }
        self.discover().await
    }

    /// Fetches the provider's metadata and keys anew.
    async fn discover(&self) -> Result<CoreProviderMetadata, OidcError> {
        let metadata = CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|error| OidcError::Provider(error.to_string()))?;
        *self.metadata.write().await = Some((Instant::now(), metadata.clone()));
        Ok(metadata)
    }

    async fn client(
        &self,
        redirect: &str,
    ) -> Result<
        CoreClient<
            openidconnect::EndpointSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointNotSet,
            openidconnect::EndpointMaybeSet,
            openidconnect::EndpointMaybeSet,
        >,
        OidcError,
    > {
        let redirect = RedirectUrl::new(redirect.to_owned()).map_err(|error| OidcError::Provider(error.to_string()))?;
        let secret = Some(self.settings.client_secret.clone())
            .filter(|secret| !secret.is_empty())
            .map(ClientSecret::new);
        Ok(CoreClient::from_provider_metadata(
            self.metadata().await?,
            ClientId::new(self.settings.client_id.clone()),
            secret,
        )
        .set_redirect_uri(redirect))
    }

    /// Where to send the browser, and what to keep until it comes back.
    pub async fn start(&self, redirect: &str) -> Result<(String, Pending), OidcError> {
        let client = self.client(redirect).await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("profile".to_owned()))
            .add_scope(Scope::new("email".to_owned()))
            .set_pkce_challenge(challenge)
            .url();
        Ok((
            url.to_string(),
            Pending {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                verifier: verifier.secret().clone(),
            },
        ))
    }

    /// The login the provider vouches for, after it returned `code`.
    pub async fn finish(&self, redirect: &str, pending: Pending, code: &str) -> Result<String, OidcError> {
        let client = self.client(redirect).await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .map_err(|error| OidcError::Provider(error.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier))
            .request_async(&self.http)
            .await
            .map_err(|error| OidcError::Refused(error.to_string()))?;
        let id_token = response
            .id_token()
            .ok_or_else(|| OidcError::Refused("no ID token".to_owned()))?;
        let nonce = Nonce::new(pending.nonce);
        let claims = match id_token.claims(&client.id_token_verifier(), &nonce) {
            Ok(claims) => claims.clone(),
            // The provider may have rotated its keys since they were fetched:
            // the token is checked once more against the keys it has now.
            Err(first) => {
                tracing::info!(error = %first, "ID token not verified with the cached keys; fetching them again");
                self.discover().await?;
                let fresh = self.client(redirect).await?;
                id_token
                    .claims(&fresh.id_token_verifier(), &nonce)
                    .map_err(|error| OidcError::Refused(error.to_string()))?
                    .clone()
            }
        };
        let login = match self.settings.login_claim.as_str() {
            "email" => claims.email().map(|email| email.as_str().to_owned()),
            "sub" => Some(claims.subject().as_str().to_owned()),
            _ => claims.preferred_username().map(|name| name.as_str().to_owned()),
        };
        login
            .map(|login| login.trim().to_lowercase())
            .filter(|login| !login.is_empty())
            .ok_or_else(|| OidcError::Refused(format!("no {} claim", self.settings.login_claim)))
    }
}

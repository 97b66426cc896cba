//! Pages without a process behind them: the list of offices and the legal texts.

use askama::Template;
use axum::extract::State;
use axum::response::Html;

use super::{WebError, render};
use crate::Services;

#[derive(Template)]
#[template(path = "offices.html")]
struct Offices {
    offices: Vec<amtstermin_proto::availability::v1::Office>,
}

pub async fn offices(State(services): State<Services>) -> Result<Html<String>, WebError> {
    render(&Offices {
        offices: services
            .catalogues
            .offices()
            .await
            .map_err(crate::error::ApiError::from)?
            .to_vec(),
    })
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct Accessibility;

pub async fn accessibility() -> Result<Html<String>, WebError> {
    render(&Accessibility)
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct Privacy;

pub async fn privacy() -> Result<Html<String>, WebError> {
    render(&Privacy)
}

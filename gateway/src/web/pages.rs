//! Pages without a process behind them: the list of offices and the legal
//! texts (imprint, privacy, accessibility), built from the offices'
//! configuration so that another city only changes configuration.

use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::State;
use axum::response::Html;
use chrono::NaiveDate;

use super::frame::Frame;
use super::{WebError, render};
use crate::Services;
use crate::error::ApiError;
use crate::i18n;

#[derive(Template)]
#[template(path = "offices.html")]
struct Offices {
    frame: Frame,
    offices: Vec<availability::Office>,
}

pub async fn offices(State(services): State<Services>) -> Result<Html<String>, WebError> {
    let offices = services.catalogues.offices().await.map_err(ApiError::from)?;
    render(&Offices {
        frame: Frame::site(&offices),
        offices: offices.to_vec(),
    })
}

/// One public body and the offices it runs here, as the legal pages name it.
struct Operator {
    legal: availability::Legal,
    contact: availability::Contact,
    offices: String,
    /// Where to report a barrier.
    feedback_email: String,
    /// Where an unresolved report can go.
    arbitration: String,
    /// When the accessibility statement was last reviewed, in words.
    reviewed: String,
}

/// The offices grouped by the body that runs them (usually one city).
async fn operators(services: &Services) -> Result<Vec<Operator>, WebError> {
    let offices = services.catalogues.offices().await.map_err(ApiError::from)?;
    let mut operators: Vec<Operator> = Vec::new();
    for office in offices.iter() {
        let legal = office.legal.clone().unwrap_or_default();
        if let Some(known) = operators
            .iter_mut()
            .find(|known| known.legal.operator == legal.operator && known.legal.address == legal.address)
        {
            known.offices.push_str(&format!(", {}", office.name));
            continue;
        }
        let contact = office.contact.clone().unwrap_or_default();
        let feedback_email = if legal.accessibility_contact.is_empty() {
            contact.email.clone()
        } else {
            legal.accessibility_contact.clone()
        };
        let arbitration = if legal.accessibility_arbitration.is_empty() {
            arbitration_of_state(&office.state).to_owned()
        } else {
            legal.accessibility_arbitration.clone()
        };
        let reviewed = NaiveDate::parse_from_str(&legal.accessibility_reviewed, "%Y-%m-%d")
            .map(i18n::long_date)
            .unwrap_or_default();
        operators.push(Operator {
            legal,
            contact,
            offices: office.name.clone(),
            feedback_email,
            arbitration,
            reviewed,
        });
    }
    Ok(operators)
}

/// The body that settles unresolved barrier reports, by the office's state
/// (ISO 3166-2 suffix); a general pointer where amtstermin knows none.
fn arbitration_of_state(state: &str) -> &'static str {
    let lang = i18n::current();
    match state {
        "NW" => lang.t("legal.arbitration_nw"),
        _ => lang.t("legal.arbitration_any"),
    }
}

#[derive(Template)]
#[template(path = "imprint.html")]
struct Imprint {
    frame: Frame,
    operators: Vec<Operator>,
}

pub async fn imprint(State(services): State<Services>) -> Result<Html<String>, WebError> {
    render(&Imprint {
        frame: services.site_frame().await,
        operators: operators(&services).await?,
    })
}

#[derive(Template)]
#[template(path = "accessibility.html")]
struct Accessibility {
    frame: Frame,
    operators: Vec<Operator>,
}

pub async fn accessibility(State(services): State<Services>) -> Result<Html<String>, WebError> {
    render(&Accessibility {
        frame: services.site_frame().await,
        operators: operators(&services).await?,
    })
}

#[derive(Template)]
#[template(path = "privacy.html")]
struct Privacy {
    frame: Frame,
    operators: Vec<Operator>,
    /// As the booking service erases them; `None` if it cannot be asked.
    retention_days: Option<u32>,
}

pub async fn privacy(State(services): State<Services>) -> Result<Html<String>, WebError> {
    let retention_days = services
        .bookings
        .clone()
        .get_data_policy(booking::GetDataPolicyRequest {})
        .await
        .ok()
        .map(|policy| policy.into_inner().retention_days);
    render(&Privacy {
        frame: services.site_frame().await,
        operators: operators(&services).await?,
        retention_days,
    })
}

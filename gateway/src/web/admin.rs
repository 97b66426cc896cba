//! The administration (`/verwaltung`): an office's configuration changed at
//! runtime by its admins (role `admin`), in the file's own format and with
//! its validation; every change kept with who, when, before and after, and
//! revertible; audit accounts read the history. Before a change that leaves
//! bookings without room is saved, the page lists them; after, it links each
//! to the desk, where staff move or cancel it.

use amtstermin_catalogue::german;
use amtstermin_platform::{ErrorCode, timestamp};
use amtstermin_proto::availability::v1 as availability;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::Deserialize;

use super::desk::{desk_csrf, signed_in_as, verify_bound};
use super::frame::Frame;
use super::{WebError, render};
use crate::Services;
use crate::staff::{Account, Role};

/// How many changes the history page shows.
const CHANGES_SHOWN: u32 = 50;
/// Lines of context around each changed part of a document.
const DIFF_CONTEXT: usize = 2;

/// One office in the overview.
struct OfficeRow {
    id: String,
    name: String,
    version: u64,
    changed: String,
    changed_by: String,
}

#[derive(Template)]
#[template(path = "admin_offices.html")]
struct Offices {
    frame: Frame,
    name: String,
    admin: bool,
    /// May add offices (an admin of all offices).
    all_offices: bool,
    offices: Vec<OfficeRow>,
    csrf: String,
}

#[derive(Template)]
#[template(path = "admin_office.html")]
struct Editor {
    frame: Frame,
    office_id: String,
    office_name: String,
    csrf: String,
    document: String,
    version: u64,
    /// The validation's (or another refusal's) message.
    error: Option<String>,
    /// Set after a check: what it found.
    checked: bool,
    affected: Vec<Affected>,
    /// The affected bookings are listed: saving needs a confirmation.
    confirm: bool,
}

#[derive(Template)]
#[template(path = "admin_saved.html")]
struct Saved {
    frame: Frame,
    office_id: String,
    heading: String,
    text: String,
    affected: Vec<Affected>,
}

struct ChangeRow {
    version: u64,
    changed: String,
    actor: String,
    what: String,
    reverts: u64,
    diff: Vec<DiffLine>,
}

struct DiffLine {
    /// "+", "-" or " ".
    sign: &'static str,
    text: String,
}

#[derive(Template)]
#[template(path = "admin_changes.html")]
struct Changes {
    frame: Frame,
    office_id: String,
    office_name: String,
    csrf: String,
    admin: bool,
    current: u64,
    changes: Vec<ChangeRow>,
    /// A revert that leaves bookings without room, waiting for confirmation.
    pending: Option<(u64, Vec<Affected>)>,
}

/// A booking a change leaves without room, as the pages show it.
struct Affected {
    code: String,
    when: String,
    counter: String,
}

fn local(at: Option<&prost_types::Timestamp>, tz: Tz) -> String {
    at.and_then(timestamp::from_proto)
        .map(|at: DateTime<Utc>| {
            let local = at.with_timezone(&tz);
            format!(
                "{}, {} Uhr",
                german::long_date(local.date_naive()),
                local.format("%H:%M")
            )
        })
        .unwrap_or_default()
}

/// The office's time zone and name, as far as the catalogue knows it (a new
/// or removed office: Berlin and its id).
async fn office_label(services: &Services, office_id: &str) -> (Tz, String) {
    match services.catalogues.office(office_id).await {
        Ok(office) => (office.timezone(), office.office.name.clone()),
        Err(_) => (chrono_tz::Europe::Berlin, office_id.to_owned()),
    }
}

fn affected(list: &[availability::AffectedBooking], tz: Tz) -> Vec<Affected> {
    list.iter()
        .map(|booking| Affected {
            code: booking.code.clone(),
            when: local(booking.start.as_ref(), tz),
            counter: booking.counter_id.clone(),
        })
        .collect()
}

async fn stored(services: &Services, office_id: &str) -> Result<availability::OfficeConfiguration, WebError> {
    services
        .configuration
        .clone()
        .get_configuration(availability::GetConfigurationRequest {})
        .await?
        .into_inner()
        .offices
        .into_iter()
        .find(|office| office.office_id == office_id)
        .ok_or(WebError::NotFound("Dieses Amt gibt es nicht."))
}

async fn admin_for(services: &Services, headers: &HeaderMap, office_id: &str) -> Result<Account, WebError> {
    signed_in_as(services, headers, Some(office_id), &[Role::Admin]).await
}

pub async fn offices(State(services): State<Services>, headers: HeaderMap) -> Result<Response, WebError> {
    let account = signed_in_as(&services, &headers, None, &[Role::Admin, Role::Audit]).await?;
    let csrf = desk_csrf(&services, &headers)?;
    let configuration = services
        .configuration
        .clone()
        .get_configuration(availability::GetConfigurationRequest {})
        .await?
        .into_inner();
    let mut offices = Vec::new();
    for office in configuration
        .offices
        .iter()
        .filter(|office| account.may_work_for(&office.office_id))
    {
        let (tz, name) = office_label(&services, &office.office_id).await;
        offices.push(OfficeRow {
            id: office.office_id.clone(),
            name,
            version: office.version,
            changed: local(office.changed_at.as_ref(), tz),
            changed_by: office.changed_by.clone(),
        });
    }
    let page = render(&Offices {
        frame: Frame::default(),
        name: account.display_name().to_owned(),
        admin: account.has(Role::Admin),
        all_offices: account.offices.is_empty(),
        offices,
        csrf: csrf.token.clone(),
    })?;
    Ok(csrf.respond(page))
}

/// The start of a new office's document: the least the validation takes,
/// with the keys to fill in.
const NEW_OFFICE: &str = r#"[[offices]]
id = "bauamt"
name = "Bauamt"
address = "Straße 1, 59192 Bergkamen"
state = "NW"
booking_window_days = 60
min_lead_minutes = 60
slot_minutes = 10

[offices.hours]
mon = ["08:00-12:00"]
tue = ["08:00-12:00"]
wed = ["08:00-12:00"]
thu = ["08:00-12:00", "14:00-17:00"]
fri = ["08:00-12:00"]

[[offices.categories]]
id = "allgemein"
name = "Allgemeines"
featured = true

[[offices.concerns]]
id = "beratung"
name = "Beratung"
category = "allgemein"
duration_minutes = 15
required_documents = ["Personalausweis oder Reisepass"]
fee = "gebührenfrei"

[[offices.counters]]
id = "platz-1"
name = "Arbeitsplatz 1"
"#;

#[derive(Template)]
#[template(path = "admin_new_office.html")]
struct NewOffice {
    frame: Frame,
    csrf: String,
    office_id: String,
    document: String,
    error: Option<String>,
}

/// Paths of the administration that an office id would shadow.
const RESERVED_IDS: [&str; 2] = ["konten", "neues-amt"];

/// A new office (another department) is for admins of all offices.
async fn admin_of_all(services: &Services, headers: &HeaderMap) -> Result<Account, WebError> {
    let account = signed_in_as(services, headers, None, &[Role::Admin]).await?;
    if !account.offices.is_empty() {
        return Err(WebError::Forbidden(
            "Ein neues Amt legen Verwaltungskräfte an, die für alle Ämter freigeschaltet sind.",
        ));
    }
    Ok(account)
}

pub async fn new_office_form(State(services): State<Services>, headers: HeaderMap) -> Result<Response, WebError> {
    admin_of_all(&services, &headers).await?;
    let csrf = desk_csrf(&services, &headers)?;
    let page = render(&NewOffice {
        frame: Frame::default(),
        csrf: csrf.token.clone(),
        office_id: "bauamt".to_owned(),
        document: NEW_OFFICE.to_owned(),
        error: None,
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct NewOfficeForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    amt: String,
    #[serde(default)]
    dokument: String,
}

pub async fn create_office(
    State(services): State<Services>,
    headers: HeaderMap,
    Form(form): Form<NewOfficeForm>,
) -> Result<Response, WebError> {
    let account = admin_of_all(&services, &headers).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let csrf = desk_csrf(&services, &headers)?;
    let office_id = form.amt.trim().to_owned();
    let document = form.dokument.replace("\r\n", "\n");
    // The administration's own pages live beside the offices'.
    let created = if RESERVED_IDS.contains(&office_id.as_str()) {
        Err(ErrorCode::ConfigurationConflict.status("reserved"))
    } else {
        services
            .configuration
            .clone()
            .save_office_configuration(availability::SaveOfficeConfigurationRequest {
                office_id: office_id.clone(),
                document: document.clone(),
                expected_version: 0,
                actor: account.login.clone(),
                dry_run: false,
            })
            .await
    };
    match created {
        Ok(_) => {
            let page = render(&Saved {
                frame: Frame::default(),
                office_id: office_id.clone(),
                heading: "Amt angelegt".to_owned(),
                text: "Das Amt gilt ab sofort und ist in wenigen Sekunden auf der Website zu sehen.".to_owned(),
                affected: Vec::new(),
            })?;
            Ok(csrf.respond(page))
        }
        Err(status) => {
            let message = match ErrorCode::of(&status) {
                ErrorCode::ConfigurationConflict => "Ein Amt mit dieser Kennung gibt es schon.".to_owned(),
                _ => refusal(status)?.1,
            };
            let page = render(&NewOffice {
                frame: Frame::default(),
                csrf: csrf.token.clone(),
                office_id,
                document,
                error: Some(message),
            })?;
            Ok(csrf.respond((StatusCode::UNPROCESSABLE_ENTITY, page)))
        }
    }
}

pub async fn editor(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    admin_for(&services, &headers, &office_id).await?;
    let csrf = desk_csrf(&services, &headers)?;
    let office = stored(&services, &office_id).await?;
    let (_, office_name) = office_label(&services, &office_id).await;
    let page = render(&Editor {
        frame: Frame::default(),
        office_id,
        office_name,
        csrf: csrf.token.clone(),
        document: office.document,
        version: office.version,
        error: None,
        checked: false,
        affected: Vec::new(),
        confirm: false,
    })?;
    Ok(csrf.respond(page))
}

#[derive(Deserialize)]
pub struct DocumentForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    dokument: String,
    #[serde(default)]
    version: String,
    /// "pruefen" or "speichern".
    #[serde(default)]
    aktion: String,
    /// "ja" once the affected bookings were shown.
    #[serde(default)]
    bestaetigt: String,
}

fn version(text: &str) -> Result<u64, WebError> {
    text.trim()
        .parse()
        .map_err(|_| WebError::BadRequest("Das Formular ist unvollständig. Bitte laden Sie die Seite neu."))
}

/// A refusal the editor shows next to the document; other errors end the page.
fn refusal(status: tonic::Status) -> Result<(StatusCode, String), WebError> {
    match ErrorCode::of(&status) {
        ErrorCode::InvalidConfiguration => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("Die Konfiguration ist so nicht gültig: {}", status.message()),
        )),
        ErrorCode::ConfigurationConflict => Ok((
            StatusCode::CONFLICT,
            "Inzwischen hat jemand anderes eine neuere Fassung gespeichert. Ihre Änderung ist unten noch zu sehen; \
             bitte laden Sie die Seite neu und übertragen Sie sie in die neue Fassung."
                .to_owned(),
        )),
        _ => Err(status.into()),
    }
}

pub async fn save(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
    Form(form): Form<DocumentForm>,
) -> Result<Response, WebError> {
    let account = admin_for(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let csrf = desk_csrf(&services, &headers)?;
    let expected_version = version(&form.version)?;
    // Browsers send text areas with CRLF line ends; the file has LF.
    let document = form.dokument.replace("\r\n", "\n");
    let (tz, office_name) = office_label(&services, &office_id).await;
    let request = |dry_run: bool| availability::SaveOfficeConfigurationRequest {
        office_id: office_id.clone(),
        document: document.clone(),
        expected_version,
        actor: account.login.clone(),
        dry_run,
    };
    let mut page = Editor {
        frame: Frame::default(),
        office_id: office_id.clone(),
        office_name,
        csrf: csrf.token.clone(),
        document: document.clone(),
        version: expected_version,
        error: None,
        checked: false,
        affected: Vec::new(),
        confirm: false,
    };
    let checked = match services
        .configuration
        .clone()
        .save_office_configuration(request(true))
        .await
    {
        Ok(checked) => checked.into_inner(),
        Err(status) => {
            let (code, message) = refusal(status)?;
            page.error = Some(message);
            return Ok(csrf.respond((code, render(&page)?)));
        }
    };
    page.affected = affected(&checked.affected_bookings, tz);
    let confirmed = form.bestaetigt == "ja";
    if form.aktion != "speichern" || (!page.affected.is_empty() && !confirmed) {
        page.checked = true;
        page.confirm = form.aktion == "speichern";
        return Ok(csrf.respond(render(&page)?));
    }
    let saved = match services
        .configuration
        .clone()
        .save_office_configuration(request(false))
        .await
    {
        Ok(saved) => saved.into_inner(),
        Err(status) => {
            let (code, message) = refusal(status)?;
            page.error = Some(message);
            return Ok(csrf.respond((code, render(&page)?)));
        }
    };
    let version = saved.office.as_ref().map_or(expected_version, |office| office.version);
    let page = Saved {
        frame: Frame::default(),
        office_id: office_id.clone(),
        heading: if saved.saved {
            "Konfiguration gespeichert".to_owned()
        } else {
            "Nichts geändert".to_owned()
        },
        text: if saved.saved {
            format!("Fassung {version} gilt ab sofort, auf der Website spätestens in zwei Sekunden.")
        } else {
            "Die Konfiguration war schon so gespeichert.".to_owned()
        },
        affected: affected(&saved.affected_bookings, tz),
    };
    Ok(csrf.respond(render(&page)?))
}

/// The lines of `before` and `after` that differ, with some around them.
fn diff(before: &str, after: &str) -> Vec<DiffLine> {
    use similar::{ChangeTag, TextDiff};
    let text = TextDiff::from_lines(before, after);
    let mut lines = Vec::new();
    for (index, group) in text.grouped_ops(DIFF_CONTEXT).iter().enumerate() {
        if index > 0 {
            lines.push(DiffLine {
                sign: " ",
                text: "…".to_owned(),
            });
        }
        for op in group {
            for change in text.iter_changes(op) {
                let sign = match change.tag() {
                    ChangeTag::Delete => "-",
                    ChangeTag::Insert => "+",
                    ChangeTag::Equal => " ",
                };
                lines.push(DiffLine {
                    sign,
                    text: change.value().trim_end_matches('\n').to_owned(),
                });
            }
        }
    }
    lines
}

async fn changes_page(
    services: &Services,
    headers: &HeaderMap,
    office_id: String,
    pending: Option<(u64, Vec<Affected>)>,
) -> Result<Response, WebError> {
    let account = signed_in_as(services, headers, Some(&office_id), &[Role::Admin, Role::Audit]).await?;
    let csrf = desk_csrf(services, headers)?;
    let listed = services
        .configuration
        .clone()
        .list_configuration_changes(availability::ListConfigurationChangesRequest {
            office_id: office_id.clone(),
            limit: CHANGES_SHOWN,
        })
        .await?
        .into_inner()
        .changes;
    let (tz, office_name) = office_label(services, &office_id).await;
    let current = listed.first().map_or(0, |change| change.version);
    let changes = listed
        .into_iter()
        .map(|change| ChangeRow {
            what: match (change.before.is_empty(), change.after.is_empty()) {
                (true, _) => "angelegt".to_owned(),
                (_, true) => "entfernt".to_owned(),
                _ => "geändert".to_owned(),
            },
            diff: diff(&change.before, &change.after),
            version: change.version,
            changed: local(change.changed_at.as_ref(), tz),
            actor: change.actor,
            reverts: change.reverts,
        })
        .collect();
    let page = render(&Changes {
        frame: Frame::default(),
        office_id,
        office_name,
        csrf: csrf.token.clone(),
        admin: account.has(Role::Admin),
        current,
        changes,
        pending,
    })?;
    Ok(csrf.respond(page))
}

pub async fn changes(
    State(services): State<Services>,
    Path(office_id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    changes_page(&services, &headers, office_id, None).await
}

#[derive(Deserialize)]
pub struct RevertForm {
    #[serde(default)]
    csrf: String,
    /// The office's version the revert was chosen on.
    #[serde(default)]
    aktuell: String,
    #[serde(default)]
    bestaetigt: String,
}

pub async fn revert(
    State(services): State<Services>,
    Path((office_id, reverted)): Path<(String, u64)>,
    headers: HeaderMap,
    Form(form): Form<RevertForm>,
) -> Result<Response, WebError> {
    let account = admin_for(&services, &headers, &office_id).await?;
    verify_bound(&services, &headers, &form.csrf)?;
    let request = |dry_run: bool| availability::RevertConfigurationChangeRequest {
        office_id: office_id.clone(),
        version: reverted,
        expected_version: version(&form.aktuell).unwrap_or_default(),
        actor: account.login.clone(),
        dry_run,
    };
    let refused = |status: tonic::Status| match ErrorCode::of(&status) {
        ErrorCode::ConfigurationConflict => WebError::Conflict(
            "Inzwischen wurde die Konfiguration geändert. Bitte laden Sie die Seite neu und wählen Sie noch einmal.",
        ),
        ErrorCode::InvalidConfiguration => {
            WebError::Conflict("Diese Fassung ist mit den übrigen Ämtern so nicht mehr gültig.")
        }
        ErrorCode::OfficeHasBookings => {
            WebError::Conflict("Das Amt hat noch kommende Termine und kann nicht entfernt werden.")
        }
        _ => status.into(),
    };
    let (tz, _) = office_label(&services, &office_id).await;
    let checked = services
        .configuration
        .clone()
        .revert_configuration_change(request(true))
        .await
        .map_err(refused)?
        .into_inner();
    if !checked.affected_bookings.is_empty() && form.bestaetigt != "ja" {
        let pending = (reverted, affected(&checked.affected_bookings, tz));
        return changes_page(&services, &headers, office_id, Some(pending)).await;
    }
    let saved = services
        .configuration
        .clone()
        .revert_configuration_change(request(false))
        .await
        .map_err(refused)?
        .into_inner();
    let csrf = desk_csrf(&services, &headers)?;
    let version = saved.office.as_ref().map_or(0, |office| office.version);
    let page = render(&Saved {
        frame: Frame::default(),
        office_id: office_id.clone(),
        heading: format!("Änderung {reverted} zurückgenommen"),
        text: format!("Fassung {version} stellt den Stand vor Änderung {reverted} wieder her."),
        affected: affected(&saved.affected_bookings, tz),
    })?;
    Ok(csrf.respond(page))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_diff_shows_the_changed_lines_with_their_neighbours() {
        let before = "a\nb\nc\nd\ne\nf\ng\nh\n";
        let after = "a\nb\nc\nD\ne\nf\ng\nh\n";
        let lines: Vec<String> = diff(before, after)
            .into_iter()
            .map(|line| format!("{}{}", line.sign, line.text))
            .collect();
        assert_eq!(lines, [" b", " c", "-d", "+D", " e", " f"]);
        assert!(diff("x\n", "x\n").is_empty());
        assert_eq!(diff("", "neu\n").len(), 1, "a created office shows its lines");
    }
}

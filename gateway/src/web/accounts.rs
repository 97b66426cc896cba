//! Staff accounts in the administration (`/verwaltung/konten`): admins
//! create accounts, assign offices and roles, disable them and set a new
//! password; everyone signed in changes their own (`/schalter/passwort`).
//! Accounts live in the booking service; those of the staff file are
//! configuration and are not shown here. An admin of some offices manages
//! the accounts of those offices only.

use std::collections::HashMap;

use amtstermin_platform::ErrorCode;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::desk::{desk_csrf, signed_in_as, verify_bound};
use super::frame::Frame;
use super::{WebError, form_status, render, ticked};
use crate::Services;
use crate::staff::{Account, Role};

const ROLES: [(&str, &str); 3] = [
    ("desk", "Schalter (Termine, Laufkundschaft, Status, Abwesenheiten)"),
    ("admin", "Verwaltung (Konfiguration, Konten, Webhooks, Kalender-Abos)"),
    ("audit", "Revision (liest Änderungen und Statistik, ändert nichts)"),
];
const SHORTEST_PASSWORD: usize = 10;
const LONGEST_PASSWORD: usize = 200;

struct AccountRow {
    login: String,
    name: String,
    roles: String,
    offices: String,
    disabled: bool,
}

#[derive(Template)]
#[template(path = "admin_accounts.html")]
struct Accounts {
    frame: Frame,
    csrf: String,
    accounts: Vec<AccountRow>,
    offices: Vec<(String, String)>,
    roles: Vec<(&'static str, &'static str)>,
    /// May give accounts every office (an admin of all offices).
    all_offices: bool,
    error: Option<&'static str>,
    notice: Option<String>,
    login: String,
    name: String,
}

#[derive(Template)]
#[template(path = "admin_account.html")]
struct Edit {
    frame: Frame,
    csrf: String,
    account: booking::StaffAccount,
    /// (id, name, ticked)
    offices: Vec<(String, String, bool)>,
    roles: Vec<(&'static str, &'static str, bool)>,
    all_offices: bool,
    error: Option<&'static str>,
    notice: Option<&'static str>,
}

#[derive(Template)]
#[template(path = "staff_password.html")]
struct PasswordPage {
    frame: Frame,
    csrf: String,
    /// The account is the staff file's: changed there, not here.
    from_file: bool,
    error: Option<&'static str>,
    done: bool,
}

/// The offices `admin` may give (all, for an admin of all offices).
async fn grantable(services: &Services, admin: &Account) -> Result<Vec<(String, String)>, WebError> {
    Ok(services
        .catalogues
        .offices()
        .await?
        .iter()
        .filter(|office| admin.may_work_for(&office.id))
        .map(|office| (office.id.clone(), office.name.clone()))
        .collect())
}

/// Whether `admin` manages an account for `offices` (empty: all offices).
fn manages(admin: &Account, offices: &[String]) -> bool {
    admin.offices.is_empty() || (!offices.is_empty() && offices.iter().all(|office| admin.may_work_for(office)))
}

fn field<'a>(form: &'a HashMap<String, String>, name: &str) -> &'a str {
    form.get(name).map_or("", |value| value.trim())
}

async fn hashed(password: &str) -> Result<String, WebError> {
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || crate::staff::hash_password(&password))
        .await
        .map_err(|_| WebError::Internal)?
        .map_err(|_| WebError::Internal)
}

fn password_refusal(password: &str, repeated: &str) -> Option<&'static str> {
    let length = password.chars().count();
    if length < SHORTEST_PASSWORD {
        Some("Das Passwort muss mindestens 10 Zeichen lang sein.")
    } else if length > LONGEST_PASSWORD {
        Some("Das Passwort darf höchstens 200 Zeichen lang sein.")
    } else if password != repeated {
        Some("Die beiden Passwörter stimmen nicht überein.")
    } else {
        None
    }
}

fn row(account: booking::StaffAccount, offices: &[(String, String)]) -> AccountRow {
    AccountRow {
        roles: account
            .roles
            .iter()
            .map(|role| match role.as_str() {
                "desk" => "Schalter",
                "admin" => "Verwaltung",
                "audit" => "Revision",
                other => other,
            })
            .collect::<Vec<_>>()
            .join(", "),
        offices: if account.offices.is_empty() {
            "alle Ämter".to_owned()
        } else {
            account
                .offices
                .iter()
                .map(|id| {
                    offices
                        .iter()
                        .find(|(office, _)| office == id)
                        .map_or(id.as_str(), |(_, name)| name.as_str())
                })
                .collect::<Vec<_>>()
                .join(", ")
        },
        login: account.login,
        name: account.name,
        disabled: account.disabled,
    }
}

async fn accounts_page(
    services: &Services,
    headers: &HeaderMap,
    admin: &Account,
    outcome: (Option<&'static str>, Option<String>, (String, String)),
) -> Result<Response, WebError> {
    let csrf = desk_csrf(services, headers)?;
    let offices = grantable(services, admin).await?;
    let accounts = services
        .bookings
        .clone()
        .list_staff_accounts(booking::ListStaffAccountsRequest {})
        .await?
        .into_inner()
        .accounts
        .into_iter()
        .filter(|account| manages(admin, &account.offices))
        .map(|account| row(account, &offices))
        .collect();
    let (error, notice, (login, name)) = outcome;
    let status = form_status(error.is_some());
    let page = render(&Accounts {
        frame: Frame::default(),
        csrf: csrf.token.clone(),
        accounts,
        offices,
        roles: ROLES.to_vec(),
        all_offices: admin.offices.is_empty(),
        error,
        notice,
        login,
        name,
    })?;
    Ok(csrf.respond((status, page)))
}

pub async fn accounts(State(services): State<Services>, headers: HeaderMap) -> Result<Response, WebError> {
    let admin = signed_in_as(&services, &headers, None, &[Role::Admin]).await?;
    accounts_page(&services, &headers, &admin, (None, None, Default::default())).await
}

/// The form: `csrf`, `login`, `name`, `passwort`, `wiederholung`,
/// `rolle:{role}` and `amt:{office}` (no office: all, for an admin of all).
pub async fn create(
    State(services): State<Services>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let admin = signed_in_as(&services, &headers, None, &[Role::Admin]).await?;
    verify_bound(&services, &headers, field(&form, "csrf"))?;
    let login = field(&form, "login").to_lowercase();
    let name = field(&form, "name").to_owned();
    let offices = ticked(&form, "amt:");
    let roles = ticked(&form, "rolle:");
    let refuse = |message: &'static str| (Some(message), None, (login.clone(), name.clone()));
    let password = form.get("passwort").map_or("", String::as_str);
    let refusal = if roles.is_empty() {
        Some("Bitte wählen Sie mindestens eine Rolle.")
    } else if !manages(&admin, &offices) {
        Some("Bitte wählen Sie die Ämter, für die das Konto arbeitet.")
    } else if services.staff.file_account(&login).is_some() {
        Some("Diesen Benutzernamen gibt es schon.")
    } else {
        password_refusal(password, form.get("wiederholung").map_or("", String::as_str))
    };
    if let Some(message) = refusal {
        return accounts_page(&services, &headers, &admin, refuse(message)).await;
    }
    let request = booking::CreateStaffAccountRequest {
        login: login.clone(),
        name: name.clone(),
        offices,
        roles,
        password_hash: hashed(password).await?,
        actor: admin.login.clone(),
    };
    match services.bookings.clone().create_staff_account(request).await {
        Ok(_) => {
            let notice = format!("Das Konto {login} ist angelegt. Bitte geben Sie das Passwort persönlich weiter.");
            accounts_page(&services, &headers, &admin, (None, Some(notice), Default::default())).await
        }
        Err(status) => {
            let message = match ErrorCode::of(&status) {
                ErrorCode::StaffAccountExists => "Diesen Benutzernamen gibt es schon.",
                ErrorCode::InvalidArgument => {
                    "Der Benutzername darf nur a–z, 0–9, Punkt, Unter- und Bindestrich enthalten (höchstens 64 Zeichen)."
                }
                _ => return Err(status.into()),
            };
            accounts_page(&services, &headers, &admin, refuse(message)).await
        }
    }
}

/// The stored account `login`, if `admin` manages it.
async fn managed(services: &Services, admin: &Account, login: &str) -> Result<booking::StaffAccount, WebError> {
    let account = services
        .bookings
        .clone()
        .get_staff_account(booking::GetStaffAccountRequest {
            login: login.to_owned(),
        })
        .await
        .map_err(|status| match ErrorCode::of(&status) {
            ErrorCode::StaffAccountNotFound | ErrorCode::InvalidArgument => {
                WebError::NotFound("Dieses Konto gibt es nicht.")
            }
            _ => status.into(),
        })?
        .into_inner();
    if !manages(admin, &account.offices) {
        return Err(WebError::NotFound("Dieses Konto gibt es nicht."));
    }
    Ok(booking::StaffAccount {
        password_hash: String::new(),
        ..account
    })
}

async fn edit_page(
    services: &Services,
    headers: &HeaderMap,
    admin: &Account,
    account: booking::StaffAccount,
    (error, notice): (Option<&'static str>, Option<&'static str>),
) -> Result<Response, WebError> {
    let csrf = desk_csrf(services, headers)?;
    let offices = grantable(services, admin)
        .await?
        .into_iter()
        .map(|(id, name)| {
            let ticked = account.offices.contains(&id);
            (id, name, ticked)
        })
        .collect();
    let roles = ROLES
        .iter()
        .map(|(role, label)| (*role, *label, account.roles.iter().any(|given| given == role)))
        .collect();
    let page = render(&Edit {
        frame: Frame::default(),
        csrf: csrf.token.clone(),
        offices,
        roles,
        account,
        all_offices: admin.offices.is_empty(),
        error,
        notice,
    })?;
    let status = form_status(error.is_some());
    Ok(csrf.respond((status, page)))
}

pub async fn account(
    State(services): State<Services>,
    Path(login): Path<String>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let admin = signed_in_as(&services, &headers, None, &[Role::Admin]).await?;
    let account = managed(&services, &admin, &login).await?;
    edit_page(&services, &headers, &admin, account, (None, None)).await
}

/// The form: `csrf`, `name`, `rolle:{role}`, `amt:{office}`, `gesperrt`.
pub async fn update(
    State(services): State<Services>,
    Path(login): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let admin = signed_in_as(&services, &headers, None, &[Role::Admin]).await?;
    verify_bound(&services, &headers, field(&form, "csrf"))?;
    let account = managed(&services, &admin, &login).await?;
    let offices = ticked(&form, "amt:");
    let roles = ticked(&form, "rolle:");
    let refusal = if roles.is_empty() {
        Some("Bitte wählen Sie mindestens eine Rolle.")
    } else if !manages(&admin, &offices) {
        Some("Bitte wählen Sie die Ämter, für die das Konto arbeitet.")
    } else if login == admin.login && !roles.iter().any(|role| role == "admin") {
        Some("Ihr eigenes Konto behält die Verwaltung; das Recht nimmt ihm eine andere Verwaltungskraft.")
    } else {
        None
    };
    if let Some(message) = refusal {
        return edit_page(&services, &headers, &admin, account, (Some(message), None)).await;
    }
    let updated = services
        .bookings
        .clone()
        .update_staff_account(booking::UpdateStaffAccountRequest {
            login: account.login.clone(),
            name: field(&form, "name").to_owned(),
            offices,
            roles,
            disabled: field(&form, "gesperrt") == "ja" && login != admin.login,
            actor: admin.login.clone(),
        })
        .await?
        .into_inner();
    let notice = if updated.disabled {
        "Gespeichert. Das Konto ist gesperrt: es meldet sich nicht mehr an, offene Sitzungen enden."
    } else {
        "Gespeichert."
    };
    edit_page(&services, &headers, &admin, updated, (None, Some(notice))).await
}

/// An admin sets a new password (`passwort`, `wiederholung`).
pub async fn reset_password(
    State(services): State<Services>,
    Path(login): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let admin = signed_in_as(&services, &headers, None, &[Role::Admin]).await?;
    verify_bound(&services, &headers, field(&form, "csrf"))?;
    let account = managed(&services, &admin, &login).await?;
    let password = form.get("passwort").map_or("", String::as_str);
    if let Some(message) = password_refusal(password, form.get("wiederholung").map_or("", String::as_str)) {
        return edit_page(&services, &headers, &admin, account, (Some(message), None)).await;
    }
    let updated = services
        .bookings
        .clone()
        .set_staff_password(booking::SetStaffPasswordRequest {
            login: account.login.clone(),
            password_hash: hashed(password).await?,
            actor: admin.login.clone(),
        })
        .await?
        .into_inner();
    let notice = "Das neue Passwort gilt; alle Sitzungen des Kontos sind beendet.";
    edit_page(&services, &headers, &admin, updated, (None, Some(notice))).await
}

async fn password_page(
    services: &Services,
    headers: &HeaderMap,
    account: &Account,
    (error, done): (Option<&'static str>, bool),
) -> Result<Response, WebError> {
    let csrf = desk_csrf(services, headers)?;
    let page = render(&PasswordPage {
        frame: Frame::default(),
        csrf: csrf.token.clone(),
        from_file: account.password_version.is_none(),
        error,
        done,
    })?;
    let status = form_status(error.is_some());
    Ok(csrf.respond((status, page)))
}

const EVERY_ROLE: [Role; 3] = [Role::Desk, Role::Admin, Role::Audit];

pub async fn password_form(State(services): State<Services>, headers: HeaderMap) -> Result<Response, WebError> {
    let account = signed_in_as(&services, &headers, None, &EVERY_ROLE).await?;
    password_page(&services, &headers, &account, (None, false)).await
}

/// The form: `csrf`, `bisher` (the current password), `passwort`,
/// `wiederholung`. A new password ends every session of the account, this
/// one too: the page says so and leads to the sign-in.
pub async fn change_password(
    State(services): State<Services>,
    client: crate::client::Client,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let account = signed_in_as(&services, &headers, None, &EVERY_ROLE).await?;
    verify_bound(&services, &headers, field(&form, "csrf"))?;
    if account.password_version.is_none() {
        return password_page(&services, &headers, &account, (None, false)).await;
    }
    let current = form.get("bisher").map_or("", String::as_str);
    let verified = services
        .sign_in
        .verify(
            |login| {
                let services = services.clone();
                async move { services.staff_account(&login).await }
            },
            &account.login,
            current,
            client.key(),
        )
        .await;
    let refusal = match verified {
        Ok(_) => password_refusal(
            form.get("passwort").map_or("", String::as_str),
            form.get("wiederholung").map_or("", String::as_str),
        ),
        Err(crate::sign_in::Refusal::Busy) => return Err(WebError::Unavailable),
        Err(_) => Some("Das bisherige Passwort stimmt nicht."),
    };
    if let Some(message) = refusal {
        return password_page(&services, &headers, &account, (Some(message), false)).await;
    }
    services
        .bookings
        .clone()
        .set_staff_password(booking::SetStaffPasswordRequest {
            login: account.login.clone(),
            password_hash: hashed(form.get("passwort").map_or("", String::as_str)).await?,
            actor: account.login.clone(),
        })
        .await?;
    tracing::info!("staff password changed by its user");
    password_page(&services, &headers, &account, (None, true)).await
}

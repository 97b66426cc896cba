//! Staff accounts kept in this service's database: what an account is and
//! what makes one valid. Sign-in itself (argon2, throttling, sessions) is the
//! gateway's; this service never sees a password, only its hash.

use amtstermin_platform::ErrorCode;
use chrono::{DateTime, Utc};

use crate::error::Error;

pub const ROLES: [&str; 3] = ["desk", "admin", "audit"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffAccount {
    pub login: String,
    pub name: String,
    /// Offices it works for; empty: all.
    pub offices: Vec<String>,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub password_hash: String,
    pub password_version: u64,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub changed_at: DateTime<Utc>,
    pub changed_by: String,
}

fn invalid(message: &str) -> Error {
    Error::Invalid {
        code: ErrorCode::InvalidArgument,
        message: message.to_owned(),
    }
}

/// A login: 1 to 64 of a-z, 0-9, '.', '_', '-' (it is part of the session
/// cookie and of the history).
pub fn login(text: &str) -> Result<String, Error> {
    let login = text.trim();
    let plain = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c);
    if login.is_empty() || login.len() > 64 || !login.chars().all(plain) {
        return Err(invalid(
            "login must be 1 to 64 characters of a-z, 0-9, '.', '_' and '-'",
        ));
    }
    Ok(login.to_owned())
}

/// A display name: at most 100 characters of text.
pub fn name(text: &str) -> Result<String, Error> {
    let name = text.trim();
    if name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid("name must be at most 100 characters of text"));
    }
    Ok(name.to_owned())
}

/// Roles, each known, once each, in the order of `ROLES`; at least one.
pub fn roles(given: &[String]) -> Result<Vec<String>, Error> {
    if let Some(unknown) = given.iter().find(|role| !ROLES.contains(&role.as_str())) {
        return Err(invalid(&format!("unknown role {unknown:?} (desk, admin or audit)")));
    }
    let roles: Vec<String> = ROLES
        .iter()
        .filter(|role| given.iter().any(|given| given == *role))
        .map(|role| (*role).to_owned())
        .collect();
    if roles.is_empty() {
        return Err(invalid("an account needs at least one role (desk, admin or audit)"));
    }
    Ok(roles)
}

/// Office ids (whether they exist is the caller's to check), sorted, once each.
pub fn offices(given: &[String]) -> Result<Vec<String>, Error> {
    let mut offices: Vec<String> = given.iter().map(|office| office.trim().to_owned()).collect();
    if offices
        .iter()
        .any(|office| office.is_empty() || office.len() > 64 || office.contains(','))
    {
        return Err(invalid("offices must be office ids"));
    }
    offices.sort();
    offices.dedup();
    Ok(offices)
}

/// An argon2 hash as a PHC string (`gateway --hash-password` makes one).
pub fn password_hash(text: &str) -> Result<String, Error> {
    if !text.starts_with("$argon2") || text.len() > 256 || text.chars().any(|c| c.is_whitespace()) {
        return Err(invalid("password_hash must be an argon2 hash (PHC string)"));
    }
    Ok(text.to_owned())
}

pub fn not_found(login: &str) -> Error {
    Error::Invalid {
        code: ErrorCode::StaffAccountNotFound,
        message: format!("no staff account {}", amtstermin_platform::error_code::excerpt(login)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_are_checked_before_they_are_stored() {
        assert_eq!(login(" eva.m ").expect("valid"), "eva.m");
        assert!(login("Eva").is_err() && login("").is_err() && login("a,b").is_err());
        let given = |roles: &[&str]| roles.iter().map(|role| role.to_string()).collect::<Vec<_>>();
        assert_eq!(
            roles(&given(&["audit", "desk", "desk"])).expect("valid"),
            ["desk", "audit"]
        );
        assert!(roles(&given(&[])).is_err() && roles(&given(&["root"])).is_err());
        assert_eq!(offices(&given(&["b", "a", "b"])).expect("valid"), ["a", "b"]);
        assert!(offices(&given(&["a,b"])).is_err());
        assert!(password_hash("geheim").is_err());
        assert!(password_hash("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").is_ok());
    }
}

//! The staff accounts' gRPC calls (admin scope), and the account a desk
//! session's check answers with.

use amtstermin_platform::ErrorCode;
use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1 as pb;
use chrono::Utc;

use super::Bookings;
use crate::error::Error;
use crate::staff::{self, StaffAccount};

/// The account as clients see it; the hash only where asked for.
pub(super) fn to_proto(account: StaffAccount, with_hash: bool) -> pb::StaffAccount {
    pb::StaffAccount {
        login: account.login,
        name: account.name,
        offices: account.offices,
        roles: account.roles,
        disabled: account.disabled,
        created_at: Some(timestamp::to_proto(account.created_at)),
        created_by: account.created_by,
        password_version: account.password_version,
        password_hash: if with_hash {
            account.password_hash
        } else {
            String::new()
        },
        changed_at: Some(timestamp::to_proto(account.changed_at)),
        changed_by: account.changed_by,
    }
}

use super::admin_actor as actor;

impl Bookings {
    /// The offices an account's events belong to: its own, or every office
    /// (one that works for all).
    async fn offices_of(&self, offices: &[String]) -> Vec<String> {
        if !offices.is_empty() {
            return offices.to_vec();
        }
        match self.catalogues.offices().await {
            Ok(all) => all.iter().map(|office| office.id.clone()).collect(),
            Err(status) => {
                tracing::warn!(code = ?status.code(), "offices unknown: an account's event goes unrecorded");
                Vec::new()
            }
        }
    }

    /// The offices, each one the configuration has.
    async fn known_offices(&self, given: &[String]) -> Result<Vec<String>, Error> {
        let offices = staff::offices(given)?;
        for office in &offices {
            self.catalogues.office(office).await.map_err(Error::Availability)?;
        }
        Ok(offices)
    }

    pub(super) async fn create_staff(&self, request: pb::CreateStaffAccountRequest) -> Result<pb::StaffAccount, Error> {
        let now = Utc::now();
        let account = StaffAccount {
            login: staff::login(&request.login)?,
            name: staff::name(&request.name)?,
            offices: self.known_offices(&request.offices).await?,
            roles: staff::roles(&request.roles)?,
            disabled: false,
            password_hash: staff::password_hash(&request.password_hash)?,
            password_version: 1,
            created_at: now,
            created_by: actor(&request.actor),
            changed_at: now,
            changed_by: actor(&request.actor),
        };
        if !self.store()?.add_staff_account(&account).await? {
            return Err(Error::Invalid {
                code: ErrorCode::StaffAccountExists,
                message: format!("the login {:?} is taken", account.login),
            });
        }
        tracing::info!("staff account created");
        let offices = self.offices_of(&account.offices).await;
        self.audit(&offices, (&account.created_by, "staff.created"), &account.login)
            .await;
        Ok(to_proto(account, false))
    }

    pub(super) async fn staff_list(&self) -> Result<pb::ListStaffAccountsResponse, Error> {
        let accounts = self.store()?.staff_accounts().await?;
        Ok(pb::ListStaffAccountsResponse {
            accounts: accounts.into_iter().map(|account| to_proto(account, false)).collect(),
        })
    }

    pub(super) async fn staff_with_hash(&self, login: &str) -> Result<pb::StaffAccount, Error> {
        let account = self
            .store()?
            .staff_account(login.trim())
            .await?
            .ok_or_else(|| staff::not_found(login))?;
        Ok(to_proto(account, true))
    }

    pub(super) async fn update_staff(&self, request: pb::UpdateStaffAccountRequest) -> Result<pb::StaffAccount, Error> {
        let login = staff::login(&request.login)?;
        let mut account = self
            .store()?
            .staff_account(&login)
            .await?
            .ok_or_else(|| staff::not_found(&login))?;
        account.name = staff::name(&request.name)?;
        account.offices = self.known_offices(&request.offices).await?;
        account.roles = staff::roles(&request.roles)?;
        account.disabled = request.disabled;
        account.changed_at = Utc::now();
        account.changed_by = actor(&request.actor);
        let updated = self
            .store()?
            .update_staff_account(&account)
            .await?
            .ok_or_else(|| staff::not_found(&login))?;
        tracing::info!(disabled = updated.disabled, "staff account changed");
        let action = if updated.disabled {
            "staff.disabled"
        } else {
            "staff.changed"
        };
        let offices = self.offices_of(&updated.offices).await;
        self.audit(&offices, (&updated.changed_by, action), &updated.login)
            .await;
        Ok(to_proto(updated, false))
    }

    pub(super) async fn set_password(&self, request: pb::SetStaffPasswordRequest) -> Result<pb::StaffAccount, Error> {
        let login = staff::login(&request.login)?;
        let hash = staff::password_hash(&request.password_hash)?;
        let updated = self
            .store()?
            .set_staff_password(&login, &hash, (&actor(&request.actor), Utc::now()))
            .await?
            .ok_or_else(|| staff::not_found(&login))?;
        tracing::info!("staff password set");
        let offices = self.offices_of(&updated.offices).await;
        self.audit(&offices, (&updated.changed_by, "staff.password_set"), &updated.login)
            .await;
        Ok(to_proto(updated, false))
    }
}

//! The webhooks' gRPC calls (admin scope): subscribe, list, delete, and the
//! deliveries with their answers (see `crate::webhooks`).

use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1 as pb;
use chrono::Utc;

use super::Bookings;
use crate::error::Error;
use crate::webhooks::{self, Delivery, Webhook};

/// How often a subscription draws a new id after a collision.
const ID_ATTEMPTS: usize = 5;

/// The most deliveries one list answers.
const MAX_LISTED: u32 = 100;

impl Bookings {
    pub(super) async fn subscribe(&self, request: pb::CreateWebhookRequest) -> Result<pb::Webhook, Error> {
        // The office must exist: its configuration says so.
        let office = self
            .catalogues
            .office(&request.office_id)
            .await
            .map_err(Error::Availability)?;
        let events = webhooks::check(&request.url, &request.events)?;
        let secret = webhooks::new_secret()?;
        let actor = super::admin_actor(&request.actor);
        for _ in 0..ID_ATTEMPTS {
            let webhook = Webhook {
                office_id: office.id().to_owned(),
                id: format!("wh_{}", crate::bookings::new_code()?.replace('-', "").to_lowercase()),
                url: request.url.trim().to_owned(),
                events: events.clone(),
                personal_data: request.personal_data,
                created_at: Utc::now(),
                created_by: actor.clone(),
                deleted_at: None,
            };
            if self.store()?.add_webhook(&webhook, &secret).await? {
                tracing::info!(office = %webhook.office_id, webhook = %webhook.id, "webhook added");
                self.audit(
                    std::slice::from_ref(&webhook.office_id),
                    (&actor, "webhook.created"),
                    &webhook.id,
                )
                .await;
                let mut answer = to_proto(webhook);
                answer.secret = secret;
                return Ok(answer);
            }
        }
        Err(Error::Internal("no free webhook id after several draws".to_owned()))
    }

    pub(super) async fn subscriptions(
        &self,
        request: &pb::ListWebhooksRequest,
    ) -> Result<pb::ListWebhooksResponse, Error> {
        let webhooks = self.store()?.webhooks(&request.office_id).await?;
        Ok(pb::ListWebhooksResponse {
            webhooks: webhooks.into_iter().map(to_proto).collect(),
        })
    }

    pub(super) async fn unsubscribe(&self, request: &pb::DeleteWebhookRequest) -> Result<pb::Webhook, Error> {
        let deleted = self
            .store()?
            .delete_webhook(&request.office_id, &request.id, Utc::now())
            .await?
            .ok_or(Error::WebhookNotFound)?;
        tracing::info!(office = %deleted.office_id, webhook = %deleted.id, "webhook deleted");
        let actor = super::admin_actor(&request.actor);
        self.audit(
            std::slice::from_ref(&deleted.office_id),
            (&actor, "webhook.deleted"),
            &deleted.id,
        )
        .await;
        Ok(to_proto(deleted))
    }

    pub(super) async fn webhook_deliveries(
        &self,
        request: &pb::ListWebhookDeliveriesRequest,
    ) -> Result<pb::ListWebhookDeliveriesResponse, Error> {
        let limit = match request.limit {
            0 => MAX_LISTED,
            limit => limit.min(MAX_LISTED),
        };
        let deliveries = self
            .store()?
            .webhook_deliveries(&request.office_id, &request.webhook_id, limit)
            .await?;
        Ok(pb::ListWebhookDeliveriesResponse {
            deliveries: deliveries.into_iter().map(delivery_to_proto).collect(),
        })
    }
}

fn to_proto(webhook: Webhook) -> pb::Webhook {
    pb::Webhook {
        id: webhook.id,
        office_id: webhook.office_id,
        url: webhook.url,
        events: webhook.events.iter().map(|event| event.as_str().to_owned()).collect(),
        personal_data: webhook.personal_data,
        created_at: Some(timestamp::to_proto(webhook.created_at)),
        created_by: webhook.created_by,
        secret: String::new(),
        deleted_at: webhook.deleted_at.map(timestamp::to_proto),
    }
}

fn delivery_to_proto(delivery: Delivery) -> pb::WebhookDelivery {
    pb::WebhookDelivery {
        id: delivery.id,
        event: delivery.event,
        payload: delivery.payload,
        created_at: Some(timestamp::to_proto(delivery.created_at)),
        attempts: delivery.attempts,
        last_status: delivery.last_status,
        last_error: delivery.last_error.unwrap_or_default(),
        delivered_at: delivery.delivered_at.map(timestamp::to_proto),
        failed_at: delivery.failed_at.map(timestamp::to_proto),
        next_attempt_at: Some(timestamp::to_proto(delivery.next_attempt_at)),
    }
}

//! The calendar feeds' gRPC calls: admins create, list and revoke them;
//! the gateway reads one by its token (see `crate::feeds`).

use amtstermin_platform::timestamp;
use amtstermin_proto::booking::v1 as pb;
use chrono::{TimeDelta, Utc};

use super::{Bookings, to_proto};
use crate::bookings;
use crate::error::Error;
use crate::feeds::{DAYS_AHEAD, Feed};

/// How often a feed draws a new id after a collision.
const ID_ATTEMPTS: usize = 5;

impl Bookings {
    pub(super) async fn create_feed(&self, request: pb::CreateCalendarFeedRequest) -> Result<pb::CalendarFeed, Error> {
        let office = self
            .catalogues
            .office(&request.office_id)
            .await
            .map_err(Error::Availability)?;
        let counter_id = request.counter_id.trim().to_owned();
        if !counter_id.is_empty() && !office.catalogue.counters.iter().any(|counter| counter.id == counter_id) {
            return Err(Error::UnknownCounter(counter_id));
        }
        let token = bookings::token_to_string(&bookings::new_token()?);
        let token_hash = bookings::token_hash(&token).ok_or_else(|| Error::Internal("unhashable token".to_owned()))?;
        for _ in 0..ID_ATTEMPTS {
            let feed = Feed {
                office_id: office.id().to_owned(),
                id: format!("cal_{}", bookings::new_code()?.replace('-', "").to_lowercase()),
                counter_id: counter_id.clone(),
                names: request.names,
                created_at: Utc::now(),
                created_by: super::admin_actor(&request.actor),
                revoked_at: None,
            };
            if self.store()?.add_feed(&feed, &token_hash).await? {
                tracing::info!(office = %feed.office_id, feed = %feed.id, "calendar feed created");
                self.audit(
                    std::slice::from_ref(&feed.office_id),
                    (&feed.created_by, "feed.created"),
                    &feed.id,
                )
                .await;
                let mut answer = feed_to_proto(feed);
                answer.token = token;
                return Ok(answer);
            }
        }
        Err(Error::Internal("no free feed id after several draws".to_owned()))
    }

    pub(super) async fn list_feeds(
        &self,
        request: &pb::ListCalendarFeedsRequest,
    ) -> Result<pb::ListCalendarFeedsResponse, Error> {
        let feeds = self.store()?.feeds(&request.office_id).await?;
        Ok(pb::ListCalendarFeedsResponse {
            feeds: feeds.into_iter().map(feed_to_proto).collect(),
        })
    }

    pub(super) async fn revoke_feed(&self, request: &pb::RevokeCalendarFeedRequest) -> Result<pb::CalendarFeed, Error> {
        let feed = self
            .store()?
            .revoke_feed(&request.office_id, &request.id, Utc::now())
            .await?
            .ok_or(Error::FeedNotFound)?;
        tracing::info!(office = %feed.office_id, feed = %feed.id, "calendar feed revoked");
        let actor = super::admin_actor(&request.actor);
        self.audit(
            std::slice::from_ref(&feed.office_id),
            (&actor, "feed.revoked"),
            &feed.id,
        )
        .await;
        Ok(feed_to_proto(feed))
    }

    pub(super) async fn read_feed(
        &self,
        request: &pb::ReadCalendarFeedRequest,
    ) -> Result<pb::ReadCalendarFeedResponse, Error> {
        let token_hash = bookings::token_hash(&request.token).ok_or(Error::FeedNotFound)?;
        let store = self.store()?;
        let feed = store
            .feed_by_token(&request.office_id, &token_hash)
            .await?
            .ok_or(Error::FeedNotFound)?;
        let now = Utc::now();
        let coming = store
            .list(&feed.office_id, now, now + TimeDelta::days(DAYS_AHEAD))
            .await?;
        let bookings = feed
            .shows(coming, now)
            .into_iter()
            .map(|booking| to_proto(booking, 0))
            .collect();
        Ok(pb::ReadCalendarFeedResponse {
            feed: Some(feed_to_proto(feed)),
            bookings,
        })
    }
}

fn feed_to_proto(feed: Feed) -> pb::CalendarFeed {
    pb::CalendarFeed {
        id: feed.id,
        office_id: feed.office_id,
        counter_id: feed.counter_id,
        names: feed.names,
        created_at: Some(timestamp::to_proto(feed.created_at)),
        created_by: feed.created_by,
        revoked_at: feed.revoked_at.map(timestamp::to_proto),
        token: String::new(),
    }
}

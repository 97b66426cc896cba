//! Requests as citizens make them, through the gateway's public API. Each
//! citizen has an address of its own (sent as `X-Forwarded-For`, which the
//! gateway believes from loopback), so per-address limits treat the load as
//! many people, as on a release morning.

use anyhow::Context;
use serde_json::{Value, json};

#[derive(Clone)]
pub struct Citizens {
    http: reqwest::Client,
}

/// A booking made: its code and the token that manages it.
pub struct Booked {
    pub code: String,
    pub token: String,
}

/// Citizen `who`'s address: a distinct one in 10.0.0.0/8 for each of 16 M.
pub fn address(who: u64) -> String {
    let who = who % (1 << 24);
    format!("10.{}.{}.{}", (who >> 16) & 0xff, (who >> 8) & 0xff, who & 0xff)
}

impl Citizens {
    pub fn new() -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(1024)
            .tcp_nodelay(true)
            .timeout(std::time::Duration::from_secs(30))
            .build()?;
        Ok(Self { http })
    }

    /// The free times of a concern from `from` to `to` (dates), as JSON.
    pub async fn slots(
        &self,
        base: &str,
        office: &str,
        concern: &str,
        (from, to): (&str, &str),
        who: u64,
    ) -> anyhow::Result<(u16, Value)> {
        let response = self.ask_slots(base, office, concern, (from, to), who).await?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok((status, body))
    }

    /// Status only, reading (not parsing) the body, so the load generator
    /// leaves the machine's cores to the system under test.
    pub async fn slots_status(
        &self,
        base: &str,
        office: &str,
        concern: &str,
        (from, to): (&str, &str),
        who: u64,
    ) -> anyhow::Result<u16> {
        let response = self.ask_slots(base, office, concern, (from, to), who).await?;
        let status = response.status().as_u16();
        response.bytes().await?;
        Ok(status)
    }

    async fn ask_slots(
        &self,
        base: &str,
        office: &str,
        concern: &str,
        (from, to): (&str, &str),
        who: u64,
    ) -> reqwest::Result<reqwest::Response> {
        self.http
            .get(format!("{base}/api/v1/offices/{office}/slots"))
            .query(&[("concerns", concern), ("from", from), ("to", to)])
            .header("x-forwarded-for", address(who))
            .send()
            .await
    }

    /// Books `start` (RFC 3339) for citizen `who`.
    pub async fn book(
        &self,
        base: &str,
        office: &str,
        concern: &str,
        start: &str,
        who: u64,
    ) -> anyhow::Result<(u16, Option<Booked>)> {
        let response = self
            .http
            .post(format!("{base}/api/v1/bookings"))
            .header("x-forwarded-for", address(who))
            .json(&json!({
                "office": office,
                "concerns": [concern],
                "start": start,
                "name": format!("Last Test {who}"),
                "email": format!("citizen-{who}@example.org"),
            }))
            .send()
            .await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let booked = (status == 201)
            .then(|| {
                Some(Booked {
                    code: body["code"].as_str()?.to_owned(),
                    token: body["token"].as_str()?.to_owned(),
                })
            })
            .flatten();
        Ok((status, booked))
    }

    pub async fn cancel(&self, base: &str, booked: &Booked, who: u64) -> anyhow::Result<u16> {
        let response = self
            .http
            .delete(format!("{base}/api/v1/bookings/{}", booked.code))
            .bearer_auth(&booked.token)
            .header("x-forwarded-for", address(who))
            .send()
            .await?;
        Ok(response.status().as_u16())
    }
}

/// The start times (RFC 3339) with a free place in a slots answer, by day.
pub fn free_starts(slots: &Value) -> Vec<Vec<String>> {
    slots["days"]
        .as_array()
        .map(|days| {
            days.iter()
                .map(|day| {
                    day["slots"]
                        .as_array()
                        .map(|slots| {
                            slots
                                .iter()
                                .filter(|slot| slot["free"].as_u64().unwrap_or(0) > 0)
                                .filter_map(|slot| slot["start"].as_str().map(str::to_owned))
                                .collect()
                        })
                        .unwrap_or_default()
                })
                .filter(|starts: &Vec<String>| !starts.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// How many places are free at `start` in a slots answer.
pub fn free_at(slots: &Value, start: &str) -> Option<u64> {
    slots["days"].as_array()?.iter().find_map(|day| {
        day["slots"]
            .as_array()?
            .iter()
            .find(|slot| slot["start"].as_str() == Some(start))
            .and_then(|slot| slot["free"].as_u64())
    })
}

/// The date (YYYY-MM-DD) of an RFC 3339 start.
pub fn date_of(start: &str) -> anyhow::Result<&str> {
    start.get(..10).context("start without a date")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn citizens_get_distinct_private_addresses() {
        assert_eq!(address(0), "10.0.0.0");
        assert_eq!(address(0x01_02_03), "10.1.2.3");
        assert_ne!(address(1), address(2));
    }

    #[test]
    fn free_starts_skip_full_slots_and_empty_days() {
        let slots = json!({"days": [
            {"date": "2026-12-01", "slots": [
                {"start": "2026-12-01T08:00:00+01:00", "free": 0},
                {"start": "2026-12-01T08:15:00+01:00", "free": 2}]},
            {"date": "2026-12-02", "slots": []}]});
        assert_eq!(free_starts(&slots), vec![vec!["2026-12-01T08:15:00+01:00".to_owned()]]);
        assert_eq!(free_at(&slots, "2026-12-01T08:00:00+01:00"), Some(0));
        assert_eq!(free_at(&slots, "2026-12-03T08:00:00+01:00"), None);
    }
}

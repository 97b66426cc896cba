//! One conformance suite for every booking store backend: SQLite always,
//! PostgreSQL when `AMTSTERMIN_TEST_POSTGRES_URL` is set.

use std::sync::Arc;

use amtstermin_tests::{Backend, TestDatabase, backend_tests};
use booking_service::bookings::{Channel, Idempotency, NewBooking, Status};
use booking_service::changes::ChangeKind;
use booking_service::notifications::{MailKind, Notification};
use booking_service::store::{self, BookingStore, Move, MoveRequest, Reservation, StatusChange, StatusRequest};
use chrono::{DateTime, Duration, TimeZone, Utc};
use sqlx::Connection as _;

backend_tests!(
    a_reservation_takes_the_first_free_counter_and_never_overlaps,
    touching_intervals_do_not_overlap,
    cancelling_frees_the_interval_and_keeps_the_booking,
    bookings_are_found_only_with_their_token,
    codes_and_idempotency_keys_are_unique_per_office,
    bookings_are_listed_by_office_and_time,
    concurrent_reservations_of_one_counter_yield_one_booking,
    every_change_is_logged_per_office_in_order,
    a_snapshot_matches_the_log_it_reflects,
    concurrent_changes_get_distinct_sequences_all_logged,
    the_life_cycle_allows_only_its_transitions_and_records_them,
    a_move_takes_the_new_time_and_frees_the_old_one_atomically,
    an_email_address_holds_at_most_the_limit_of_upcoming_bookings,
    a_client_address_makes_at_most_its_quota_of_bookings_a_day,
    a_pending_booking_holds_its_counter_until_confirmed_or_released,
    revoked_desk_sessions_are_known_until_they_would_have_ended,
    retention_removes_personal_data_of_past_appointments_only,
    mails_are_claimed_once_and_retried_or_given_up,
    the_change_log_is_trimmed_but_keeps_each_office_s_latest_entry,
    announced_changes_reach_the_followers,
);

async fn open(backend: Backend) -> Option<(TestDatabase, Arc<dyn BookingStore>)> {
    let database = TestDatabase::create(backend).await?;
    let store = store::open(&database.url, 4).expect("open store");
    store.migrate().await.expect("migrate");
    store.migrate().await.expect("migrating twice is harmless");
    Some((database, store))
}

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2030, 3, 4, hour, minute, 0)
        .single()
        .expect("valid")
}

fn new_booking(office: &str, code: &str, start: DateTime<Utc>, minutes: i64) -> NewBooking {
    NewBooking {
        office_id: office.to_owned(),
        code: code.to_owned(),
        concern_ids: vec!["personalausweis".to_owned(), "reisepass".to_owned()],
        start,
        end: start + Duration::minutes(minutes),
        name: "Erika Mustermann".to_owned(),
        email: "erika@example.de".to_owned(),
        phone: String::new(),
        token_hash: format!("hash-of-{code}").into_bytes(),
        idempotency: None,
        channel: Channel::Foyer,
        actor: "staff:erika".to_owned(),
        notifications: Vec::new(),
        created_at: at(0, 0),
        quota: None,
        language: "de".to_owned(),
        confirm_by: None,
    }
}

async fn cancel(store: &Arc<dyn BookingStore>, office_id: &str, code: &str, at: DateTime<Utc>) -> StatusChange {
    let request = StatusRequest {
        handover: None,
        waiting: None,
        office_id,
        code,
        to: Status::Cancelled,
        actor: "citizen",
        detail: None,
        at,
        notifications: &[],
    };
    store.change_status(request).await.expect("change status")
}

/// Waits until a reader of the log can see every change committed so far.
/// On PostgreSQL changes become readable once every older transaction has
/// ended, and the tests running alongside keep transactions open.
async fn settle(database: &TestDatabase) {
    if !database.url.starts_with("postgres") {
        return;
    }
    let mut connection = sqlx::PgConnection::connect(&database.url).await.expect("connect");
    let now: i64 = sqlx::query_scalar("SELECT pg_current_xact_id()::text::bigint")
        .fetch_one(&mut connection)
        .await
        .expect("xid");
    for _ in 0..2000 {
        let xmin: i64 = sqlx::query_scalar("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut connection)
            .await
            .expect("xmin");
        if xmin > now {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    panic!("a transaction stayed open for ten seconds");
}

fn counters(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

fn created(reservation: Reservation) -> booking_service::bookings::Booking {
    match reservation {
        Reservation::Created { booking, .. } => booking,
        other => panic!("expected a booking, got {other:?}"),
    }
}

async fn a_reservation_takes_the_first_free_counter_and_never_overlaps(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let both = counters(&["p1", "p2"]);
    let first = created(
        store
            .reserve(&new_booking("amt", "AAAA-AAAA", at(9, 0), 20), &both, None)
            .await
            .expect("reserve"),
    );
    assert_eq!(first.counter_id, "p1");
    assert_eq!(first.concern_ids, ["personalausweis", "reisepass"]);
    let second = created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(9, 10), 20), &both, None)
            .await
            .expect("reserve"),
    );
    assert_eq!(second.counter_id, "p2", "p1 is busy until 09:20");
    let third = store
        .reserve(&new_booking("amt", "CCCC-CCCC", at(9, 15), 10), &both, None)
        .await
        .expect("reserve");
    assert!(matches!(third, Reservation::AllTaken), "{third:?}");
    let other_office = store
        .reserve(&new_booking("other", "CCCC-CCCC", at(9, 15), 10), &both, None)
        .await
        .expect("reserve");
    assert!(
        matches!(other_office, Reservation::Created { .. }),
        "offices do not share counters"
    );
}

async fn touching_intervals_do_not_overlap(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let one = counters(&["p1"]);
    created(
        store
            .reserve(&new_booking("amt", "AAAA-AAAA", at(9, 0), 20), &one, None)
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(9, 20), 20), &one, None)
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&new_booking("amt", "CCCC-CCCC", at(8, 40), 20), &one, None)
            .await
            .expect("reserve"),
    );
    let inside = store
        .reserve(&new_booking("amt", "DDDD-DDDD", at(9, 5), 5), &one, None)
        .await
        .expect("reserve");
    assert!(matches!(inside, Reservation::AllTaken));
}

async fn cancelling_frees_the_interval_and_keeps_the_booking(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let one = counters(&["p1"]);
    let booking = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    created(store.reserve(&booking, &one, None).await.expect("reserve"));
    let StatusChange::Changed {
        booking: cancelled,
        sequence,
    } = cancel(&store, "amt", "AAAA-AAAA", at(1, 0)).await
    else {
        panic!("cancelled")
    };
    assert_eq!(cancelled.status, Status::Cancelled);
    assert!(sequence.is_some(), "a cancellation is logged");
    assert!(
        matches!(
            cancel(&store, "amt", "AAAA-AAAA", at(2, 0)).await,
            StatusChange::Unchanged(_)
        ),
        "nothing changed, nothing logged"
    );
    assert!(matches!(
        cancel(&store, "other", "AAAA-AAAA", at(2, 0)).await,
        StatusChange::NotFound
    ));
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(9, 0), 20), &one, None)
            .await
            .expect("the time is free again"),
    );
    // The log says who gave the time back, and when: an office may hold back
    // what citizens release from the online channel for a while.
    settle(&db).await;
    let log = store.changes("amt", 0, 10).await.expect("changes");
    let release = log
        .iter()
        .find(|change| change.kind == ChangeKind::Released)
        .expect("released");
    assert!(release.by_citizen);
    assert_eq!(release.at, at(1, 0));
    assert!(
        log.iter()
            .filter(|change| change.kind == ChangeKind::Booked)
            .all(|change| !change.by_citizen)
    );
}

async fn bookings_are_found_only_with_their_token(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let booking = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    let reserved = created(
        store
            .reserve(&booking, &counters(&["p1"]), None)
            .await
            .expect("reserve"),
    );
    let found = store
        .get("AAAA-AAAA", &booking.token_hash)
        .await
        .expect("get")
        .expect("found");
    assert_eq!(
        found, reserved,
        "what is read back is what was stored, instants included"
    );
    assert_eq!(found.start, at(9, 0));
    assert_eq!(found.status, Status::Booked);
    assert_eq!(found.channel, Channel::Foyer);
    assert!(store.get("AAAA-AAAA", b"wrong").await.expect("get").is_none());
    assert!(
        store
            .get("ZZZZ-ZZZZ", &booking.token_hash)
            .await
            .expect("get")
            .is_none()
    );
}

async fn codes_and_idempotency_keys_are_unique_per_office(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    created(
        store
            .reserve(&new_booking("amt", "AAAA-AAAA", at(9, 0), 10), &all, None)
            .await
            .expect("reserve"),
    );
    let duplicate = store
        .reserve(&new_booking("amt", "AAAA-AAAA", at(11, 0), 10), &all, None)
        .await
        .expect("reserve");
    assert!(matches!(duplicate, Reservation::CodeTaken), "{duplicate:?}");

    let idempotency = Idempotency {
        key_hash: b"key".to_vec(),
        request_hash: b"request".to_vec(),
        token_sealed: vec![7; 32],
    };
    let mut keyed = new_booking("amt", "BBBB-BBBB", at(12, 0), 10);
    keyed.idempotency = Some(idempotency.clone());
    created(store.reserve(&keyed, &all, None).await.expect("reserve"));
    let mut retry = new_booking("amt", "CCCC-CCCC", at(13, 0), 10);
    retry.idempotency = Some(idempotency.clone());
    let retried = store.reserve(&retry, &all, None).await.expect("reserve");
    assert!(matches!(retried, Reservation::KeyTaken), "{retried:?}");
    let (booking, stored) = store
        .by_idempotency_key("amt", b"key")
        .await
        .expect("lookup")
        .expect("found");
    assert_eq!((booking.code.as_str(), stored), ("BBBB-BBBB", idempotency.clone()));
    assert!(
        store
            .by_idempotency_key("other", b"key")
            .await
            .expect("lookup")
            .is_none()
    );
    let mut elsewhere = new_booking("other", "DDDD-DDDD", at(12, 0), 10);
    elsewhere.idempotency = Some(idempotency);
    created(
        store
            .reserve(&elsewhere, &all, None)
            .await
            .expect("keys are scoped to the office"),
    );
}

async fn bookings_are_listed_by_office_and_time(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    created(
        store
            .reserve(&new_booking("amt", "AAAA-AAAA", at(9, 0), 30), &all, None)
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(14, 0), 30), &all, None)
            .await
            .expect("reserve"),
    );
    let cancelled = new_booking("amt", "CCCC-CCCC", at(10, 0), 30);
    created(store.reserve(&cancelled, &all, None).await.expect("reserve"));
    cancel(&store, "amt", "CCCC-CCCC", at(1, 0)).await;
    created(
        store
            .reserve(&new_booking("other", "DDDD-DDDD", at(9, 0), 30), &all, None)
            .await
            .expect("reserve"),
    );

    let active = |bookings: Vec<booking_service::bookings::Booking>| -> Vec<_> {
        bookings
            .into_iter()
            .filter(|booking| booking.status != Status::Cancelled)
            .map(|booking| (booking.counter_id, booking.start, booking.end))
            .collect()
    };
    let morning = store.list("amt", at(9, 20), at(12, 0)).await.expect("list");
    assert_eq!(morning.len(), 2, "the cancelled booking is listed too: {morning:?}");
    assert_eq!(morning[1].status, Status::Cancelled);
    assert_eq!(active(morning), [("p1".to_owned(), at(9, 0), at(9, 30))]);
    let day = store.list("amt", at(0, 0), at(23, 0)).await.expect("list");
    assert_eq!(
        active(day).iter().map(|(_, start, _)| *start).collect::<Vec<_>>(),
        [at(9, 0), at(14, 0)]
    );
    assert!(
        active(store.list("amt", at(9, 30), at(14, 0)).await.expect("list")).is_empty(),
        "half-open"
    );
}

async fn concurrent_reservations_of_one_counter_yield_one_booking(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for racer in 0..20 {
        let store = store.clone();
        tasks.spawn(async move {
            let booking = new_booking("amt", &format!("RACE-{racer:04}"), at(9, racer % 5), 20);
            store
                .reserve(&booking, &counters(&["p1"]), None)
                .await
                .expect("reserve")
        });
    }
    let mut winners = 0;
    while let Some(result) = tasks.join_next().await {
        match result.expect("task") {
            Reservation::Created { .. } => winners += 1,
            Reservation::AllTaken => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(winners, 1, "all twenty overlap each other on the one counter");
}

/// Positions may have gaps (on PostgreSQL they come from transaction ids),
/// but each office's log reads back in order, each change once.
async fn every_change_is_logged_per_office_in_order(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    settle(&db).await;
    assert!(store.changes("amt", 0, 100).await.expect("changes").is_empty());
    let first = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    let Reservation::Created { sequence: first, .. } = store.reserve(&first, &all, None).await.expect("reserve") else {
        panic!("booked")
    };
    assert!(first > 0);
    created(
        store
            .reserve(&new_booking("other", "BBBB-BBBB", at(9, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    // A reservation that fails leaves no trace in the log.
    let one = counters(&["p1"]);
    assert!(matches!(
        store
            .reserve(&new_booking("amt", "CCCC-CCCC", at(9, 10), 20), &one, None)
            .await
            .expect("reserve"),
        Reservation::AllTaken
    ));
    created(
        store
            .reserve(&new_booking("amt", "DDDD-DDDD", at(10, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    cancel(&store, "amt", "AAAA-AAAA", at(1, 0)).await;

    settle(&db).await;
    let changes = store.changes("amt", 0, 100).await.expect("changes");
    let summary: Vec<_> = changes
        .iter()
        .map(|c| {
            (
                c.sequence,
                c.kind,
                c.interval.code.as_str(),
                c.interval.counter_id.as_str(),
            )
        })
        .collect();
    let sequences: Vec<u64> = summary.iter().map(|c| c.0).collect();
    let summary: Vec<_> = summary
        .into_iter()
        .map(|(_, kind, code, counter)| (kind, code, counter))
        .collect();
    assert_eq!(
        summary,
        [
            (ChangeKind::Booked, "AAAA-AAAA", "p1"),
            (ChangeKind::Booked, "DDDD-DDDD", "p1"),
            (ChangeKind::Released, "AAAA-AAAA", "p1"),
        ],
        "only this office's changes, in order"
    );
    assert_eq!(sequences[0], first);
    assert!(sequences.is_sorted() && sequences[0] < sequences[1] && sequences[1] < sequences[2]);
    assert_eq!(
        (changes[0].interval.start, changes[0].interval.end),
        (at(9, 0), at(9, 20))
    );
    // Resuming after a change gives exactly the later ones.
    let rest = store.changes("amt", sequences[1], 100).await.expect("changes");
    assert_eq!(rest.iter().map(|c| c.sequence).collect::<Vec<_>>(), [sequences[2]]);
    settle(&db).await;
    assert_eq!(store.changes("amt", 0, 2).await.expect("changes").len(), 2, "limited");
    let last = store.last_sequence("amt").await.expect("sequence");
    assert!(last >= sequences[2], "a reader can be through the latest change");
    assert!(store.changes("amt", last, 100).await.expect("changes").is_empty());
}

async fn a_snapshot_matches_the_log_it_reflects(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    let cancelled = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    created(store.reserve(&cancelled, &all, None).await.expect("reserve"));
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(11, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&new_booking("amt", "CCCC-CCCC", at(6, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    cancel(&store, "amt", "AAAA-AAAA", at(1, 0)).await;

    settle(&db).await;
    let snapshot = store.snapshot("amt", at(7, 0)).await.expect("snapshot");
    let logged = store.changes("amt", 0, 100).await.expect("changes");
    assert_eq!(logged.len(), 4);
    assert!(
        snapshot.sequence >= logged[3].sequence,
        "the snapshot reflects every change"
    );
    assert!(
        store
            .changes("amt", snapshot.sequence, 100)
            .await
            .expect("changes")
            .is_empty()
    );
    let codes: Vec<_> = snapshot.intervals.iter().map(|i| i.code.as_str()).collect();
    assert_eq!(codes, ["BBBB-BBBB"], "cancelled and ended bookings are not in it");
    assert!(
        store
            .snapshot("nowhere", at(0, 0))
            .await
            .expect("snapshot")
            .intervals
            .is_empty()
    );
}

async fn concurrent_changes_get_distinct_sequences_all_logged(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let mut tasks = tokio::task::JoinSet::new();
    for racer in 0..12u32 {
        let store = store.clone();
        tasks.spawn(async move {
            let booking = new_booking("amt", &format!("SEQ{racer:01}-AAAA"), at(8 + racer % 6, 0), 30);
            store
                .reserve(&booking, &counters(&["p1", "p2"]), None)
                .await
                .expect("reserve")
        });
    }
    let mut sequences = Vec::new();
    while let Some(result) = tasks.join_next().await {
        if let Reservation::Created { sequence, .. } = result.expect("task") {
            sequences.push(sequence);
        }
    }
    sequences.sort_unstable();
    sequences.dedup();
    assert_eq!(
        sequences.len(),
        12,
        "twelve bookings on six times and two counters, each its own position"
    );
    settle(&db).await;
    let logged: Vec<u64> = store
        .changes("amt", 0, 100)
        .await
        .expect("changes")
        .iter()
        .map(|c| c.sequence)
        .collect();
    assert_eq!(logged, sequences);
}

/// PostgreSQL numbers changes by transaction id, and transactions commit in
/// any order: a reader must not pass a change whose older neighbour is still
/// running, or it would never see that one. (SQLite has one writer at a
/// time, so its positions are in commit order by construction.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_never_passes_a_change_still_running_below_it() {
    let Some((database, store)) = open(Backend::Postgres).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    // A slow writer: its transaction id is older than the booking's below.
    let mut slow = sqlx::PgConnection::connect(&database.url).await.expect("connect");
    let mut slow = sqlx::Connection::begin(&mut slow).await.expect("begin");
    let older: i64 = sqlx::query_scalar(
        "INSERT INTO booking_events (office_id, sequence, kind, code, counter_id, start_at, end_at, created_at) \
         VALUES ('amt', pg_current_xact_id()::text::bigint * 4, 'booked', 'SLOW-SLOW', 'p2', $1, $2, now()) \
         RETURNING sequence",
    )
    .bind(at(14, 0))
    .bind(at(14, 20))
    .fetch_one(&mut *slow)
    .await
    .expect("slow change");
    let Reservation::Created { sequence, .. } = store
        .reserve(&new_booking("amt", "FAST-FAST", at(9, 0), 20), &all, None)
        .await
        .expect("reserve")
    else {
        panic!("booked")
    };
    assert!(sequence > u64::try_from(older).expect("position"));
    assert!(
        store.changes("amt", 0, 10).await.expect("changes").is_empty(),
        "the committed change waits behind the running one"
    );
    let snapshot = store.snapshot("amt", at(0, 0)).await.expect("snapshot");
    assert!(
        snapshot.sequence < sequence,
        "a snapshot does not claim what a reader cannot have"
    );

    slow.commit().await.expect("commit");
    // Transaction ids are cluster-wide: a transaction of a test running
    // beside this one, in another database, holds the readable horizon back
    // too, until it ends. So both come, but not necessarily at once.
    let mut codes: Vec<String> = Vec::new();
    for _ in 0..500 {
        codes = store
            .changes("amt", 0, 10)
            .await
            .expect("changes")
            .into_iter()
            .map(|c| c.interval.code)
            .collect();
        if !codes.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(codes, ["SLOW-SLOW", "FAST-FAST"], "both, in position order");
    let replayed = store.changes("amt", snapshot.sequence, 10).await.expect("changes");
    assert_eq!(replayed.len(), 2, "resuming from the snapshot misses neither");
}

async fn set_status(
    store: &Arc<dyn BookingStore>,
    code: &str,
    to: Status,
    actor: &str,
    note: Option<&str>,
) -> StatusChange {
    let request = StatusRequest {
        handover: None,
        waiting: None,
        office_id: "amt",
        code,
        to,
        actor,
        detail: note,
        at: at(9, 5),
        notifications: &[],
    };
    store.change_status(request).await.expect("change status")
}

async fn the_life_cycle_allows_only_its_transitions_and_records_them(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    created(
        store
            .reserve(&new_booking("amt", "AAAA-AAAA", at(9, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(9, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );

    let checked_in = set_status(&store, "AAAA-AAAA", Status::CheckedIn, "staff:max", Some("am Schalter")).await;
    assert!(
        matches!(checked_in, StatusChange::Changed { sequence: None, .. }),
        "{checked_in:?}"
    );
    let refused = set_status(&store, "AAAA-AAAA", Status::Cancelled, "citizen", None).await;
    assert!(
        matches!(refused, StatusChange::Refused(ref b) if b.status == Status::CheckedIn),
        "{refused:?}"
    );
    assert!(matches!(
        set_status(&store, "AAAA-AAAA", Status::Completed, "staff:max", None).await,
        StatusChange::Changed { .. }
    ));
    assert!(matches!(
        set_status(&store, "AAAA-AAAA", Status::Completed, "staff:max", None).await,
        StatusChange::Unchanged(_)
    ));
    assert!(matches!(
        set_status(&store, "AAAA-AAAA", Status::NoShow, "staff:max", None).await,
        StatusChange::Refused(_)
    ));
    assert!(matches!(
        set_status(&store, "BBBB-BBBB", Status::NoShow, "staff:eva", None).await,
        StatusChange::Changed { .. }
    ));
    assert!(matches!(
        set_status(&store, "ZZZZ-ZZZZ", Status::NoShow, "staff:eva", None).await,
        StatusChange::NotFound
    ));

    let history = store.history("amt", "AAAA-AAAA").await.expect("history");
    let summary: Vec<_> = history
        .iter()
        .map(|e| (e.actor.as_str(), e.from, e.to, e.detail.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [
            ("staff:erika", None, Status::Booked, None),
            (
                "staff:max",
                Some(Status::Booked),
                Status::CheckedIn,
                Some("am Schalter")
            ),
            ("staff:max", Some(Status::CheckedIn), Status::Completed, None),
        ]
    );
    assert_eq!(history[1].at, at(9, 5));
    let found = store.find("amt", "AAAA-AAAA").await.expect("find").expect("found");
    assert_eq!(found.status, Status::Completed);
    // Finished appointments keep their time: nobody else gets it afterwards.
    let overlapping = store
        .reserve(&new_booking("amt", "CCCC-CCCC", at(9, 0), 20), &counters(&["p1"]), None)
        .await
        .expect("reserve");
    assert!(matches!(overlapping, Reservation::AllTaken), "{overlapping:?}");
    let listed: Vec<_> = store
        .list("amt", at(0, 0), at(23, 0))
        .await
        .expect("list")
        .into_iter()
        .map(|b| (b.code, b.status))
        .collect();
    assert_eq!(
        listed,
        [
            ("AAAA-AAAA".to_owned(), Status::Completed),
            ("BBBB-BBBB".to_owned(), Status::NoShow)
        ]
    );
}

async fn a_move_takes_the_new_time_and_frees_the_old_one_atomically(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let one = counters(&["p1"]);
    let booking = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    created(store.reserve(&booking, &one, None).await.expect("reserve"));
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(10, 0), 20), &one, None)
            .await
            .expect("reserve"),
    );
    let move_to = |start: DateTime<Utc>, counters: Vec<String>| {
        let store = store.clone();
        async move {
            let request = MoveRequest {
                handover: None,
                office_id: "amt",
                code: "AAAA-AAAA",
                start,
                end: start + Duration::minutes(20),
                counters: &counters,
                actor: "citizen",
                at: at(8, 0),
                notifications: &[],
            };
            store.reschedule(request).await.expect("reschedule")
        }
    };

    // Onto a taken time: nothing changes.
    assert!(matches!(move_to(at(10, 10), one.clone()).await, Move::AllTaken));
    assert_eq!(
        store
            .find("amt", "AAAA-AAAA")
            .await
            .expect("find")
            .expect("found")
            .start,
        at(9, 0)
    );

    // Overlapping its own old time is fine; the code and token stay.
    let Move::Moved {
        booking: moved,
        sequence,
    } = move_to(at(9, 10), one.clone()).await
    else {
        panic!("moved")
    };
    assert_eq!(
        (moved.code.as_str(), moved.start, moved.end),
        ("AAAA-AAAA", at(9, 10), at(9, 30))
    );
    assert_eq!(
        store
            .get("AAAA-AAAA", &booking.token_hash)
            .await
            .expect("get")
            .expect("found")
            .start,
        at(9, 10)
    );
    settle(&db).await;
    let changes = store.changes("amt", 0, 10).await.expect("changes");
    let kinds: Vec<_> = changes.iter().map(|c| (c.kind, c.interval.start)).collect();
    assert_eq!(
        kinds[kinds.len() - 2..],
        [(ChangeKind::Released, at(9, 0)), (ChangeKind::Booked, at(9, 10))]
    );
    assert_eq!(
        sequence,
        changes[changes.len() - 1].sequence,
        "the move's position is its booked change"
    );

    // The old time is free for others at once.
    created(
        store
            .reserve(&new_booking("amt", "CCCC-CCCC", at(8, 50), 20), &one, None)
            .await
            .expect("free again"),
    );
    let history = store.history("amt", "AAAA-AAAA").await.expect("history");
    assert!(
        history
            .last()
            .and_then(|e| e.detail.as_deref())
            .is_some_and(|d| d.starts_with("moved from"))
    );

    // Only booked appointments move.
    set_status(&store, "AAAA-AAAA", Status::Cancelled, "citizen", None).await;
    assert!(matches!(move_to(at(11, 0), one.clone()).await, Move::Refused(_)));
    let missing = MoveRequest {
        handover: None,
        office_id: "amt",
        code: "ZZZZ-ZZZZ",
        start: at(11, 0),
        end: at(11, 20),
        counters: &one,
        actor: "citizen",
        at: at(8, 0),
        notifications: &[],
    };
    assert!(matches!(
        store.reschedule(missing).await.expect("reschedule"),
        Move::NotFound
    ));
}

async fn an_email_address_holds_at_most_the_limit_of_upcoming_bookings(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2", "p3"]);
    let for_email = |code: &str, email: &str, hour: u32| {
        let mut booking = new_booking("amt", code, at(hour, 0), 20);
        booking.email = email.to_owned();
        booking
    };
    created(
        store
            .reserve(&for_email("AAAA-AAAA", "erika@example.de", 9), &all, Some(2))
            .await
            .expect("reserve"),
    );
    created(
        store
            .reserve(&for_email("BBBB-BBBB", "Erika+2@Example.DE", 10), &all, Some(2))
            .await
            .expect("reserve"),
    );
    let third = store
        .reserve(&for_email("CCCC-CCCC", "ERIKA@example.de", 11), &all, Some(2))
        .await
        .expect("reserve");
    assert!(matches!(third, Reservation::LimitReached), "{third:?}");
    created(
        store
            .reserve(&for_email("DDDD-DDDD", "max@example.de", 11), &all, Some(2))
            .await
            .expect("another address"),
    );
    created(
        store
            .reserve(&for_email("EEEE-EEEE", "erika@example.de", 12), &all, None)
            .await
            .expect("no limit for staff"),
    );
    let mut elsewhere = for_email("FFFF-FFFF", "erika@example.de", 11);
    elsewhere.office_id = "other".to_owned();
    created(store.reserve(&elsewhere, &all, Some(2)).await.expect("another office"));

    // A cancelled booking no longer counts; nor does one in the past.
    set_status(&store, "AAAA-AAAA", Status::Cancelled, "citizen", None).await;
    set_status(&store, "EEEE-EEEE", Status::Cancelled, "citizen", None).await;
    created(
        store
            .reserve(&for_email("GGGG-GGGG", "erika@example.de", 13), &all, Some(2))
            .await
            .expect("room again"),
    );
    // She holds 10:00 and 13:00 now: full at 08:00, room again at 11:00.
    let mut early = for_email("HHHH-HHHH", "erika@example.de", 14);
    early.created_at = at(8, 0);
    let limited = store.reserve(&early, &all, Some(2)).await.expect("reserve");
    assert!(matches!(limited, Reservation::LimitReached), "{limited:?}");
    let mut late = early;
    late.created_at = at(11, 0);
    created(
        store
            .reserve(&late, &all, Some(2))
            .await
            .expect("10:00 is past at 11:00"),
    );
}

async fn a_client_address_makes_at_most_its_quota_of_bookings_a_day(backend: Backend) {
    use booking_service::bookings::ClientQuota;
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2", "p3"]);
    let booking = |code: &str, hour: u32, address: &str, created_at: DateTime<Utc>| {
        let mut new = new_booking("amt", code, at(hour, 0), 30);
        new.email = format!("{code}@catch-all.example");
        new.created_at = created_at;
        new.quota = Some(ClientQuota::new("amt", address, 2));
        new
    };
    let now = at(0, 0);
    created(
        store
            .reserve(
                &booking("AAAA-AAAA", 9, "198.51.100.7", now - Duration::hours(20)),
                &all,
                None,
            )
            .await
            .expect("first"),
    );
    let second = booking("BBBB-BBBB", 10, "198.51.100.7", now - Duration::hours(1));
    created(store.reserve(&second, &all, None).await.expect("second"));
    // Cancelling does not give the quota back.
    cancel(&store, "amt", "BBBB-BBBB", now).await;
    match store
        .reserve(&booking("CCCC-CCCC", 11, "198.51.100.7", now), &all, None)
        .await
        .expect("third")
    {
        // The first leaves the day in four hours.
        Reservation::QuotaReached { retry_after } => assert_eq!(retry_after, 4 * 3600),
        other => panic!("expected the quota, got {other:?}"),
    }
    // Another address, or the same one in another office, books on.
    created(
        store
            .reserve(&booking("DDDD-DDDD", 11, "198.51.100.8", now), &all, None)
            .await
            .expect("other"),
    );
    let mut elsewhere = booking("EEEE-EEEE", 12, "198.51.100.7", now);
    elsewhere.office_id = "other".to_owned();
    elsewhere.quota = Some(ClientQuota::new("other", "198.51.100.7", 2));
    created(store.reserve(&elsewhere, &all, None).await.expect("other office"));
    // A day after the first, there is room again.
    let later = booking("FFFF-FFFF", 13, "198.51.100.7", now + Duration::hours(5));
    created(store.reserve(&later, &all, None).await.expect("a day later"));
}

async fn a_pending_booking_holds_its_counter_until_confirmed_or_released(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let one = counters(&["p1"]);
    let pending = |code: &str, confirm_by| {
        let mut new = new_booking("amt", code, at(9, 0), 30);
        new.confirm_by = Some((confirm_by, format!("confirm-{code}").into_bytes()));
        new
    };
    let held = created(
        store
            .reserve(&pending("AAAA-AAAA", at(0, 30)), &one, None)
            .await
            .expect("pending"),
    );
    assert_eq!((held.status, held.confirm_by), (Status::Pending, Some(at(0, 30))));
    // The counter is held: nobody else gets the time.
    assert!(matches!(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(9, 15), 30), &one, None)
            .await
            .expect("refused"),
        Reservation::AllTaken
    ));
    // It counts against the email limit like a booked one.
    let mut same_person = new_booking("amt", "CCCC-CCCC", at(11, 0), 30);
    same_person.created_at = at(0, 1);
    assert!(matches!(
        store.reserve(&same_person, &one, Some(1)).await.expect("limit"),
        Reservation::LimitReached
    ));
    assert!(store.expired_pending(at(0, 29), 10).await.expect("expired").is_empty());
    assert_eq!(
        store.expired_pending(at(0, 30), 10).await.expect("expired"),
        [("amt".to_owned(), "AAAA-AAAA".to_owned())]
    );
    // Released, the time is free again and the log says so.
    let request = StatusRequest {
        handover: None,
        waiting: None,
        office_id: "amt",
        code: "AAAA-AAAA",
        to: Status::Cancelled,
        actor: "system",
        detail: Some("not confirmed in time"),
        at: at(0, 31),
        notifications: &[],
    };
    assert!(matches!(
        store.change_status(request).await.expect("release"),
        StatusChange::Changed { sequence: Some(_), .. }
    ));
    assert!(store.expired_pending(at(1, 0), 10).await.expect("expired").is_empty());
    created(
        store
            .reserve(&new_booking("amt", "DDDD-DDDD", at(9, 0), 30), &one, None)
            .await
            .expect("free again"),
    );

    // Confirmed in time, it is booked.
    let confirmed = created(
        store
            .reserve(&pending("EEEE-EEEE", at(0, 30)), &counters(&["p2"]), None)
            .await
            .expect("pending"),
    );
    assert_eq!(confirmed.status, Status::Pending);
    let request = StatusRequest {
        handover: None,
        waiting: None,
        office_id: "amt",
        code: "EEEE-EEEE",
        to: Status::Booked,
        actor: "citizen",
        detail: None,
        at: at(0, 10),
        notifications: &[],
    };
    match store.change_status(request).await.expect("confirm") {
        StatusChange::Changed { booking, sequence } => {
            assert_eq!(
                (booking.status, sequence),
                (Status::Booked, None),
                "the interval stays; nothing to log"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(store.expired_pending(at(1, 0), 10).await.expect("expired").is_empty());
}

async fn revoked_desk_sessions_are_known_until_they_would_have_ended(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let (first, second) = ("a".repeat(32), "b".repeat(32));
    assert!(!store.session_revoked(&first).await.expect("check"));
    store.revoke_session(&first, at(10, 0)).await.expect("revoke");
    store
        .revoke_session(&first, at(10, 0))
        .await
        .expect("revoking twice is harmless");
    store.revoke_session(&second, at(12, 0)).await.expect("revoke");
    assert!(store.session_revoked(&first).await.expect("check"));
    assert_eq!(store.prune_sessions(at(11, 0)).await.expect("prune"), 1);
    assert!(
        !store.session_revoked(&first).await.expect("check"),
        "it would have ended anyway"
    );
    assert!(store.session_revoked(&second).await.expect("check"));
}

async fn retention_removes_personal_data_of_past_appointments_only(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    let mut past = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    past.phone = "+49 2307 1234".to_owned();
    past.notifications = vec![Notification::new(MailKind::Reminder, at(23, 0), None).expect("mail")];
    created(store.reserve(&past, &all, None).await.expect("reserve"));
    set_status(
        &store,
        "AAAA-AAAA",
        Status::CheckedIn,
        "staff:max",
        Some("Kundin Erika M. war da"),
    )
    .await;
    created(
        store
            .reserve(&new_booking("amt", "BBBB-BBBB", at(15, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );

    assert_eq!(store.anonymise(at(12, 0), at(12, 0)).await.expect("anonymise"), 1);
    let gone = store
        .find("amt", "AAAA-AAAA")
        .await
        .expect("find")
        .expect("the booking itself stays");
    assert_eq!(
        (gone.name.as_str(), gone.email.as_str(), gone.phone.as_str()),
        ("", "", "")
    );
    assert_eq!(gone.status, Status::CheckedIn, "statistics keep their figures");
    let history = store.history("amt", "AAAA-AAAA").await.expect("history");
    assert!(history.iter().all(|entry| entry.detail.is_none()), "{history:?}");
    assert_eq!(history.len(), 2, "the entries stay, without personal fields");
    let due = store.claim_mails(at(23, 30), at(23, 35), 10).await.expect("claim");
    assert!(due.is_empty(), "no mail goes to an anonymised booking: {due:?}");

    let kept = store.find("amt", "BBBB-BBBB").await.expect("find").expect("found");
    assert_eq!(kept.email, "erika@example.de", "later appointments keep their data");
    assert_eq!(
        store.anonymise(at(12, 0), at(12, 1)).await.expect("anonymise"),
        0,
        "once is enough"
    );
}

async fn mails_are_claimed_once_and_retried_or_given_up(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let mut booking = new_booking("amt", "AAAA-AAAA", at(9, 0), 20);
    booking.notifications = vec![
        Notification::new(MailKind::Confirmation, at(1, 0), Some("secret".to_owned())).expect("mail"),
        Notification::new(MailKind::Reminder, at(8, 0), None).expect("mail"),
    ];
    created(
        store
            .reserve(&booking, &counters(&["p1"]), None)
            .await
            .expect("reserve"),
    );

    let claimed = store.claim_mails(at(2, 0), at(2, 5), 10).await.expect("claim");
    assert_eq!(claimed.len(), 1, "the reminder is not due yet");
    let mail = &claimed[0];
    assert_eq!(
        (mail.kind, mail.code.as_str(), mail.token.as_deref(), mail.attempts),
        (MailKind::Confirmation, "AAAA-AAAA", Some("secret"), 1)
    );
    assert!(
        store
            .claim_mails(at(2, 1), at(2, 6), 10)
            .await
            .expect("claim")
            .is_empty(),
        "leased to one worker"
    );

    store
        .mail_failed("amt", &mail.id, "451 try again", Some(at(2, 2)), at(2, 1))
        .await
        .expect("failed");
    let again = store.claim_mails(at(2, 3), at(2, 8), 10).await.expect("claim");
    assert_eq!(again.iter().map(|m| m.attempts).collect::<Vec<_>>(), [2]);
    store.mail_sent("amt", &mail.id, at(2, 3)).await.expect("sent");
    assert!(
        store
            .claim_mails(at(3, 0), at(3, 5), 10)
            .await
            .expect("claim")
            .is_empty(),
        "sent is sent"
    );

    let reminder = store.claim_mails(at(8, 0), at(8, 5), 10).await.expect("claim");
    assert_eq!(
        reminder.iter().map(|m| m.kind).collect::<Vec<_>>(),
        [MailKind::Reminder]
    );
    store
        .mail_failed("amt", &reminder[0].id, "550 no such user", None, at(8, 1))
        .await
        .expect("given up");
    assert!(
        store
            .claim_mails(at(20, 0), at(20, 5), 10)
            .await
            .expect("claim")
            .is_empty(),
        "given up is final"
    );
}

async fn the_change_log_is_trimmed_but_keeps_each_office_s_latest_entry(backend: Backend) {
    let Some((db, store)) = open(backend).await else {
        return;
    };
    let all = counters(&["p1", "p2"]);
    for (code, hour) in [("AAAA-AAAA", 9), ("BBBB-BBBB", 10), ("CCCC-CCCC", 11)] {
        created(
            store
                .reserve(&new_booking("amt", code, at(hour, 0), 20), &all, None)
                .await
                .expect("reserve"),
        );
    }
    created(
        store
            .reserve(&new_booking("other", "DDDD-DDDD", at(9, 0), 20), &all, None)
            .await
            .expect("reserve"),
    );
    assert_eq!(store.pruned_through("amt").await.expect("horizon"), 0);
    settle(&db).await;
    let logged: Vec<u64> = store
        .changes("amt", 0, 10)
        .await
        .expect("changes")
        .iter()
        .map(|c| c.sequence)
        .collect();

    // Everything is older than "tomorrow"; each office keeps its latest entry.
    assert_eq!(
        store
            .prune_changes(at(23, 59) + Duration::days(1))
            .await
            .expect("prune"),
        2
    );
    assert_eq!(
        store.pruned_through("amt").await.expect("horizon"),
        logged[1],
        "a reader below the horizon has missed changes"
    );
    settle(&db).await;
    let kept = store.changes("amt", 0, 10).await.expect("changes");
    assert_eq!(kept.iter().map(|c| c.sequence).collect::<Vec<_>>(), [logged[2]]);
    assert!(store.last_sequence("amt").await.expect("last") >= logged[2]);
    assert_eq!(
        store.pruned_through("other").await.expect("horizon"),
        0,
        "its only entry is kept"
    );
    let Reservation::Created { sequence, .. } = store
        .reserve(&new_booking("amt", "EEEE-EEEE", at(12, 0), 20), &all, None)
        .await
        .expect("reserve")
    else {
        panic!("booked")
    };
    assert!(sequence > logged[2], "positions go on after a trim");
    assert_eq!(
        store.prune_changes(at(0, 0)).await.expect("prune"),
        0,
        "nothing that old"
    );
}

/// What one replica announces after a commit reaches the others' feeds
/// (PostgreSQL: NOTIFY/LISTEN); on SQLite, where one process writes, there
/// is nothing to follow.
async fn announced_changes_reach_the_followers(backend: Backend) {
    let Some((_db, store)) = open(backend).await else {
        return;
    };
    let (heard, mut hearing) = tokio::sync::mpsc::unbounded_channel();
    let follower = {
        let store = store.clone();
        tokio::spawn(async move {
            let on = move |office_id: &str, sequence: u64| {
                let _ = heard.send((office_id.to_owned(), sequence));
            };
            store.follow_announcements(&on).await
        })
    };
    let announced = [("amt".to_owned(), 42)];
    match backend {
        Backend::Sqlite => {
            store.announce(&announced).await.expect("announce");
            let ended = tokio::time::timeout(std::time::Duration::from_secs(5), follower).await;
            assert!(matches!(ended, Ok(Ok(Ok(())))), "nothing to follow");
        }
        Backend::Postgres => {
            // The follower listens once connected; until then announcements pass unheard.
            let mut got = None;
            for _ in 0..200 {
                store.announce(&announced).await.expect("announce");
                if let Ok(Some(heard)) =
                    tokio::time::timeout(std::time::Duration::from_millis(50), hearing.recv()).await
                {
                    got = Some(heard);
                    break;
                }
            }
            follower.abort();
            assert_eq!(got, Some(("amt".to_owned(), 42)));
        }
    }
}

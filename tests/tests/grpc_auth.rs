//! Every gRPC call but health and reflection needs a token with the
//! method's scope: none or an unknown one is UNAUTHENTICATED, one without the
//! scope PERMISSION_DENIED.

use amtstermin_platform::auth::{AuthSettings, Credentials, Token};
use amtstermin_platform::client::Channel;
use amtstermin_proto::availability::v1 as availability;
use amtstermin_proto::availability::v1::availability_service_client::AvailabilityServiceClient;
use amtstermin_proto::availability::v1::schedule_admin_service_client::ScheduleAdminServiceClient;
use amtstermin_proto::booking::v1 as booking;
use amtstermin_proto::booking::v1::booking_service_client::BookingServiceClient;
use amtstermin_tests::{Backend, TestApp, backend_tests};
use tonic::Code;

backend_tests!(staff_and_service_methods_refuse_callers_without_their_scope,);

fn token(fill: char) -> Token {
    fill.to_string().repeat(40).parse().expect("token")
}

/// The outcome codes of every staff or service method called over `channel`.
async fn codes(availability_channel: Channel, booking_channel: Channel) -> Vec<(&'static str, Code)> {
    let mut bookings = BookingServiceClient::new(booking_channel);
    let mut admin = ScheduleAdminServiceClient::new(availability_channel.clone());
    let mut slots = AvailabilityServiceClient::new(availability_channel);
    let code = |result: Result<(), tonic::Status>| result.err().map_or(Code::Ok, |status| status.code());
    let office = || "bergkamen".to_owned();
    vec![
        (
            "ListBookings",
            code(
                bookings
                    .list_bookings(booking::ListBookingsRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "ChangeBookingStatus",
            code(
                bookings
                    .change_booking_status(booking::ChangeBookingStatusRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "MoveBooking",
            code(
                bookings
                    .move_booking(booking::MoveBookingRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "GetBookingHistory",
            code(
                bookings
                    .get_booking_history(booking::GetBookingHistoryRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "BookNextFree",
            code(
                bookings
                    .book_next_free(booking::BookNextFreeRequest {
                        today_only: false,
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "CreateBooking (foyer)",
            code(
                bookings
                    .create_booking(booking::CreateBookingRequest {
                        office_id: office(),
                        channel: availability::Channel::Foyer.into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "WatchBookings",
            code(
                bookings
                    .watch_bookings(booking::WatchBookingsRequest {
                        office_id: office(),
                        after_sequence: 0,
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "AddAbsence",
            code(
                admin
                    .add_absence(availability::AddAbsenceRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "ListAbsences",
            code(
                admin
                    .list_absences(availability::ListAbsencesRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "CheckStart",
            code(
                slots
                    .check_start(availability::CheckStartRequest {
                        office_id: office(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
        (
            "ListSlots (phone)",
            code(
                slots
                    .list_slots(availability::ListSlotsRequest {
                        office_id: office(),
                        concern_ids: vec!["meldebescheinigung".to_owned()],
                        channel: availability::Channel::Phone.into(),
                        ..Default::default()
                    })
                    .await
                    .map(drop),
            ),
        ),
    ]
}

async fn staff_and_service_methods_refuse_callers_without_their_scope(backend: Backend) {
    let (public, operator) = (token('p'), token('o'));
    let Some(app) = TestApp::spawn_with(backend, |settings| {
        settings.auth = AuthSettings {
            grpc_tokens: format!(
                "public:{} public+staff+admin+service:{}",
                public.hash(),
                operator.hash()
            )
            .parse()
            .expect("tokens"),
            grpc_token: Some(operator.clone()),
        };
    })
    .await
    else {
        return;
    };
    let channels = |credentials: Credentials| {
        (
            amtstermin_platform::client::channel(&app.availability_url, &credentials).expect("channel"),
            amtstermin_platform::client::channel(&app.booking_url, &credentials).expect("channel"),
        )
    };
    let all = |outcomes: &[(&'static str, Code)], expected: Code| {
        for (method, code) in outcomes {
            assert_eq!(*code, expected, "{method}");
        }
    };

    let (a, b) = channels(Credentials::none());
    all(&codes(a, b).await, Code::Unauthenticated);
    let (a, b) = channels(Credentials::new(&token('x')));
    all(&codes(a, b).await, Code::Unauthenticated);
    let (a, b) = channels(Credentials::new(&public));
    all(&codes(a, b).await, Code::PermissionDenied);

    // With the scopes the calls get through to the service's own checks.
    let (a, b) = channels(Credentials::new(&operator));
    for (method, code) in codes(a, b).await {
        assert!(
            !matches!(code, Code::Unauthenticated | Code::PermissionDenied),
            "{method}: {code:?}"
        );
    }

    // The public methods work with the public token; the website is unaffected.
    let (a, _) = channels(Credentials::new(&public));
    let offices = AvailabilityServiceClient::new(a)
        .list_offices(availability::ListOfficesRequest {})
        .await
        .expect("public call");
    assert_eq!(offices.into_inner().offices.len(), 2);
    let (status, _) = app
        .get_json("/api/v1/offices/bergkamen/slots?concerns=meldebescheinigung")
        .await;
    assert_eq!(status, 200);
}

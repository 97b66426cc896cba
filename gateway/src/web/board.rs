//! The call display in the foyer (`/aufruf/{office}`): the numbers called to
//! a counter, the numbers waiting and the estimated wait, in large type for
//! a screen across the room. The page follows the board live through
//! Server-Sent Events, which the gateway relays from the booking service's
//! `WatchBoard` stream; the browser never polls, and its EventSource
//! reconnects by itself after a restart or a network loss. No personal data.

use std::convert::Infallible;

use amtstermin_catalogue::OfficeCatalogue;
use amtstermin_proto::booking::v1 as booking;
use askama::Template;
use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tokio_stream::{Stream, StreamExt};

use super::frame::Frame;
use super::{WebError, render};
use crate::Services;

/// The board as the page and its events show it.
#[derive(Serialize, Default, PartialEq)]
struct BoardView {
    /// (number, counter name), the latest first.
    called: Vec<(String, String)>,
    waiting: Vec<String>,
    estimated_wait_minutes: u32,
    /// The latest call ("number@seconds"): a display chimes when it
    /// changes, for a recall too.
    latest_call: String,
}

impl BoardView {
    fn new(board: booking::Board, office: &OfficeCatalogue) -> Self {
        let latest_call = board
            .called
            .first()
            .map(|called| {
                let at = called.called_at.map_or(0, |at| at.seconds);
                format!("{}@{at}", called.number)
            })
            .unwrap_or_default();
        Self {
            latest_call,
            called: board
                .called
                .into_iter()
                .map(|called| {
                    let counter = office.counter_name(&called.counter_id).to_owned();
                    (called.number, counter)
                })
                .collect(),
            waiting: board.waiting,
            estimated_wait_minutes: board.estimated_wait_minutes,
        }
    }
}

#[derive(Template)]
#[template(path = "board.html")]
struct BoardPage {
    frame: Frame,
    office_id: String,
    office_name: String,
    board: BoardView,
}

async fn watch(services: &Services, office_id: &str) -> Result<tonic::Streaming<booking::Board>, WebError> {
    Ok(services
        .bookings
        .clone()
        .watch_board(booking::WatchBoardRequest {
            office_id: office_id.to_owned(),
        })
        .await?
        .into_inner())
}

pub async fn page(State(services): State<Services>, Path(office_id): Path<String>) -> Result<Response, WebError> {
    let office = services.page_office(&office_id).await?;
    let mut boards = watch(&services, &office_id).await?;
    // The board as it is now; the page follows it from there.
    let board = match boards.next().await {
        Some(Ok(board)) => BoardView::new(board, &office),
        Some(Err(status)) => return Err(status.into()),
        None => BoardView::default(),
    };
    let page = render(&BoardPage {
        frame: Frame::office(&office),
        office_name: office.office.name.clone(),
        office_id,
        board,
    })?;
    Ok(page.into_response())
}

/// The board's changes as Server-Sent Events (`event: board`, JSON data).
pub async fn events(
    State(services): State<Services>,
    Path(office_id): Path<String>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let office = services.office(&office_id).await?;
    let boards = watch(&services, &office_id).await?;
    // The stream ends with the service's (a restart): the browser reconnects.
    let events = boards.map_while(|board| board.ok()).map(move |board| {
        let view = BoardView::new(board, &office);
        Ok(Event::default()
            .event("board")
            .json_data(&view)
            .unwrap_or_else(|_| Event::default().comment("unrenderable board")))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::default()))
}

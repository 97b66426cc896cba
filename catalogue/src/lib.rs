//! The offices and their catalogues as the clients of the availability
//! service (the gateway, the booking service's mailer) see them.
//!
//! The configuration changes rarely, so clients keep it cached
//! ([`Catalogues`]) and follow its version instead of asking for it on every
//! request. [`OfficeCatalogue`] holds the helpers every client needs to
//! present an appointment: time zone, concern names, documents to bring,
//! fees, counter names and the calendar file.

mod cache;
mod calendar;
pub mod english;
pub mod german;
mod office;

pub use cache::{CHECK_AFTER, Catalogues};
pub use office::{Appointment, FeedEntry, OfficeCatalogue};

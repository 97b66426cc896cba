//! The one error type of the availability service, mapped once to gRPC.

use amtstermin_platform::ErrorCode;
use amtstermin_platform::error_code::excerpt;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the office configuration {path}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("ungültige Konfiguration der Ämter: {0}")]
    InvalidConfig(String),
    /// A configuration an admin sent that validation refuses.
    #[error("{0}")]
    RefusedConfig(String),
    #[error("the configuration of office {} was changed since it was read; load it again", excerpt(.0))]
    ConfigurationConflict(String),
    #[error("office {} has coming bookings; move or cancel them first", excerpt(.0))]
    OfficeHasBookings(String),
    #[error("no configuration change {0} of this office")]
    UnknownConfigurationChange(u64),
    #[error("the booking service cannot be asked: {}", .0.message())]
    Booking(tonic::Status),
    #[error("unknown office {}", excerpt(.0))]
    UnknownOffice(String),
    #[error("unknown concern {} at this office", excerpt(.0))]
    UnknownConcern(String),
    #[error("choose at least one concern")]
    ConcernsRequired,
    #[error("at most {max} concerns (counting each person) fit into one appointment")]
    TooManyConcerns { max: usize },
    #[error("at most {max} persons per appointment for {concern:?}")]
    TooManyPersons { concern: String, max: u32 },
    #[error("no counter handles all of these concerns in one appointment; book them separately")]
    NotCombinable,
    #[error("{0}")]
    InvalidArgument(String),
    #[error("the requested start is not an open slot")]
    SlotUnavailable,
    #[error("the booked times are not known yet; please try again shortly")]
    ProjectionUnavailable,
    #[error("unknown counter {} at this office", excerpt(.0))]
    UnknownCounter(String),
    #[error("no absence {} at this office", excerpt(.0))]
    UnknownAbsence(String),
    #[error(transparent)]
    OpenDatabase(#[from] amtstermin_platform::database::OpenError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable code clients see (documented in the README).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Database(error) if amtstermin_platform::database::is_outage(error) => ErrorCode::ServiceUnavailable,
            Error::ReadConfig { .. }
            | Error::InvalidConfig(_)
            | Error::OpenDatabase(_)
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Internal(_) => ErrorCode::Internal,
            Error::RefusedConfig(_) => ErrorCode::InvalidConfiguration,
            Error::ConfigurationConflict(_) => ErrorCode::ConfigurationConflict,
            Error::OfficeHasBookings(_) => ErrorCode::OfficeHasBookings,
            Error::UnknownConfigurationChange(_) => ErrorCode::ConfigurationChangeNotFound,
            Error::Booking(_) => ErrorCode::ServiceUnavailable,
            Error::UnknownCounter(_) => ErrorCode::CounterNotFound,
            Error::UnknownAbsence(_) => ErrorCode::AbsenceNotFound,
            Error::UnknownOffice(_) => ErrorCode::OfficeNotFound,
            Error::UnknownConcern(_) => ErrorCode::ConcernNotFound,
            Error::ConcernsRequired => ErrorCode::ConcernsRequired,
            Error::TooManyConcerns { .. } => ErrorCode::TooManyConcerns,
            Error::TooManyPersons { .. } => ErrorCode::TooManyPersons,
            Error::NotCombinable => ErrorCode::ConcernsNotCombinable,
            Error::InvalidArgument(_) => ErrorCode::InvalidArgument,
            Error::SlotUnavailable => ErrorCode::SlotUnavailable,
            Error::ProjectionUnavailable => ErrorCode::ServiceUnavailable,
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = error.code();
        if code == ErrorCode::Internal {
            tracing::error!(error = %amtstermin_platform::telemetry::error_chain(&error), "internal error");
            return code.status("an internal error occurred");
        }
        code.status(error.to_string())
    }
}

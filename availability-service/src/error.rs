//! The one error type of the availability service, mapped once to gRPC.

use amtstermin_platform::ErrorCode;
use tonic::Status;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the office configuration {path}")]
    ReadConfig {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid office configuration: {0}")]
    InvalidConfig(String),
    #[error("unknown office {0:?}")]
    UnknownOffice(String),
    #[error("unknown concern {0:?} at this office")]
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
    #[error("unknown counter {0:?} at this office")]
    UnknownCounter(String),
    #[error("no absence {0:?} at this office")]
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
            Error::ReadConfig { .. }
            | Error::InvalidConfig(_)
            | Error::OpenDatabase(_)
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Internal(_) => ErrorCode::Internal,
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

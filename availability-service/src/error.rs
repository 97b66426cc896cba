//! The one error type of the availability service, mapped once to gRPC.

use amtstermin_proto::status::with_error_code;
use tonic::{Code, Status};

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
    OpenDatabase(#[from] amtstermin_proto::database::OpenError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("{0}")]
    Internal(String),
}

impl Error {
    /// The stable code clients see (documented in the README).
    pub fn code(&self) -> &'static str {
        match self {
            Error::ReadConfig { .. }
            | Error::InvalidConfig(_)
            | Error::OpenDatabase(_)
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Internal(_) => "internal",
            Error::UnknownCounter(_) => "counter_not_found",
            Error::UnknownAbsence(_) => "absence_not_found",
            Error::UnknownOffice(_) => "office_not_found",
            Error::UnknownConcern(_) => "concern_not_found",
            Error::ConcernsRequired => "concerns_required",
            Error::TooManyConcerns { .. } => "too_many_concerns",
            Error::TooManyPersons { .. } => "too_many_persons",
            Error::NotCombinable => "concerns_not_combinable",
            Error::InvalidArgument(_) => "invalid_argument",
            Error::SlotUnavailable => "slot_unavailable",
            Error::ProjectionUnavailable => "service_unavailable",
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = match &error {
            Error::ReadConfig { .. }
            | Error::InvalidConfig(_)
            | Error::OpenDatabase(_)
            | Error::Database(_)
            | Error::Migration(_)
            | Error::Internal(_) => {
                tracing::error!(error = %amtstermin_proto::telemetry::error_chain(&error), "internal error");
                return with_error_code(Code::Internal, "internal", "an internal error occurred");
            }
            Error::UnknownOffice(_)
            | Error::UnknownConcern(_)
            | Error::UnknownCounter(_)
            | Error::UnknownAbsence(_) => Code::NotFound,
            Error::ConcernsRequired
            | Error::TooManyConcerns { .. }
            | Error::TooManyPersons { .. }
            | Error::NotCombinable
            | Error::InvalidArgument(_) => Code::InvalidArgument,
            Error::SlotUnavailable => Code::FailedPrecondition,
            Error::ProjectionUnavailable => Code::Unavailable,
        };
        with_error_code(code, error.code(), error.to_string())
    }
}

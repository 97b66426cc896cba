//! All three services in one process: the README's run command, and what
//! end-to-end tests start. The services talk over gRPC exactly as when they
//! run as separate processes.

use std::future::Future;
use std::path::PathBuf;

use tokio::net::TcpListener;
use tokio::sync::watch;

/// Bound listeners and settings for the whole stack.
pub struct Stack {
    pub http: TcpListener,
    pub availability: TcpListener,
    pub booking: TcpListener,
    pub config_path: PathBuf,
    /// The booking service's database.
    pub database_url: String,
    pub database_max_connections: u32,
    /// The availability service's database (counter absences).
    pub availability_database_url: String,
    pub mail: booking_service::MailSettings,
    pub retention_days: u32,
    pub staff: crate::staff::StaffSettings,
}

impl Stack {
    /// Runs until `shutdown` resolves or one service fails.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let availability_url = format!("http://{}", self.availability.local_addr()?);
        let booking_url = format!("http://{}", self.booking.local_addr()?);
        let public_url = self.mail.public_url.clone();
        let (stop, stopped) = watch::channel(false);
        let signal = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|stop| *stop).await;
            }
        };
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop.send(true);
        });
        tokio::try_join!(
            availability_service::run(
                availability_service::Settings {
                    config_path: self.config_path,
                    booking_url: booking_url.clone(),
                    database_url: self.availability_database_url,
                    database_max_connections: 4,
                },
                self.availability,
                signal(),
            ),
            booking_service::run(
                booking_service::Settings {
                    database_url: self.database_url,
                    database_max_connections: self.database_max_connections,
                    availability_url: availability_url.clone(),
                    mail: self.mail,
                    retention_days: self.retention_days,
                },
                self.booking,
                signal(),
            ),
            crate::run(
                crate::Settings {
                    availability_url,
                    booking_url,
                    public_url: Some(public_url),
                    staff: self.staff,
                },
                self.http,
                signal(),
            ),
        )?;
        Ok(())
    }
}

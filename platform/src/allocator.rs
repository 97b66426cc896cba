//! The allocator of amtstermin's binaries: jemalloc with a background thread.
//! After a burst (a flash crowd opens a thousand connections at once) it
//! hands the freed memory back to the system within seconds; glibc's
//! per-thread arenas keep it for the life of the process.
//!
//! A binary declares it and starts the purging at the top of `main`:
//!
//! ```ignore
//! #[global_allocator]
//! static ALLOCATOR: amtstermin_platform::allocator::Jemalloc = amtstermin_platform::allocator::Jemalloc;
//! ```

pub use tikv_jemallocator::Jemalloc;

/// Lets jemalloc purge unused pages in a thread of its own, so memory goes
/// back even while no request allocates.
pub fn purge_in_background() {
    if let Err(error) = tikv_jemalloc_ctl::background_thread::write(true) {
        tracing::warn!(%error, "jemalloc keeps freed memory until the next allocations");
    }
}

//! Generates the gRPC code from `amtstermin/**.proto` with protox, so that a
//! machine without `protoc` builds the workspace with cargo alone.

use prost::Message;

const PROTOS: &[&str] = &[
    "amtstermin/availability/v1/availability.proto",
    "amtstermin/booking/v1/booking.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=amtstermin");
    let fds = protox::compile(PROTOS, ["."])?;
    let out_dir = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    // The encoded set feeds gRPC reflection, so grpcurl can list and call us.
    std::fs::write(out_dir.join("amtstermin_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}

//! The gRPC contracts of amtstermin (`amtstermin/**.proto`) and the code
//! generated from them, nothing else: what every process shares around them
//! lives in `amtstermin-platform`.

pub mod availability {
    pub mod v1 {
        tonic::include_proto!("amtstermin.availability.v1");
    }
}

pub mod booking {
    pub mod v1 {
        tonic::include_proto!("amtstermin.booking.v1");
    }
}

/// Encoded descriptors of every amtstermin `.proto`, served by reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("amtstermin_descriptor");

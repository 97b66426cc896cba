# One image with all binaries; docker-compose.yml picks the one to run.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /var/lib/amtstermin --create-home amtstermin
COPY --from=build /src/target/release/availability-service \
                  /src/target/release/booking-service \
                  /src/target/release/gateway \
                  /src/target/release/amtstermin \
                  /usr/local/bin/
COPY config /etc/amtstermin
USER amtstermin
WORKDIR /var/lib/amtstermin
ENV AMTSTERMIN_CONFIG=/etc/amtstermin/offices.toml \
    AMTSTERMIN_LOG_FORMAT=json
EXPOSE 8080 50051 50052
# Without a command: the all-in-one stack with SQLite in /var/lib/amtstermin/data.
CMD ["amtstermin", "--http-listen", "0.0.0.0:8080", "--availability-listen", "0.0.0.0:50051", "--booking-listen", "0.0.0.0:50052"]

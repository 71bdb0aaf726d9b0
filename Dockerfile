FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin leasehold

FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/leasehold /usr/local/bin/leasehold
USER nobody
ENV LEASEHOLD_LISTEN=0.0.0.0:7010
EXPOSE 7010
HEALTHCHECK --interval=10s --timeout=3s CMD curl -fsS http://127.0.0.1:7010/readyz || exit 1
ENTRYPOINT ["leasehold"]
CMD ["serve"]

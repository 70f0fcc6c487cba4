# syntax=docker/dockerfile:1
# A static binary on a distroless, non-root base: no shell, no package manager, nothing but the
# operator and CA certificates.

FROM rust:1.95-bookworm AS build
# musl for a static binary; cmake and clang for aws-lc (the TLS crypto of the AWS SDK).
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake clang \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY rust-toolchain.toml ./
RUN rustup target add x86_64-unknown-linux-musl
COPY Cargo.toml Cargo.lock ./
# The test kit is a dev-dependency and a workspace member: cargo reads it to resolve the workspace,
# though nothing of it goes into the binary. The core and AWS crates are the operator's libraries.
COPY testkit testkit
COPY crates crates
COPY src src
RUN cargo build --release --locked --target x86_64-unknown-linux-musl --bin cognito-sms-operator \
 && cp target/x86_64-unknown-linux-musl/release/cognito-sms-operator /cognito-sms-operator

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /cognito-sms-operator /cognito-sms-operator
USER 65532:65532
EXPOSE 8080
ENTRYPOINT ["/cognito-sms-operator"]
CMD ["run"]

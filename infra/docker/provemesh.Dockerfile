# syntax=docker/dockerfile:1
# The `provemesh` binary: prover node, archiver, proof broker and the operator CLI
# (`provemesh jobs`). Build from the repository root:
#   docker build -f infra/docker/provemesh.Dockerfile -t provemesh:0.1.0 .
# The build context skips target/, .tools/ and .git/ (provemesh.Dockerfile.dockerignore).

# The toolchain pinned in rust-toolchain.toml.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=provemesh-target \
    cargo build --release --locked -p provemesh-node --bin provemesh \
    && install -D target/release/provemesh /out/provemesh

FROM debian:bookworm-slim
# CA roots for https (S3, L1 RPC); an unprivileged user; the default local proof store
# and data directory, owned by that user (named volumes mounted there inherit it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 provemesh \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin provemesh \
    && install -d -o 10001 -g 10001 /var/lib/provemesh /var/lib/provemesh/proofs /data
COPY --from=build /out/provemesh /usr/local/bin/provemesh
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/provemesh"]
CMD ["start", "--prover-broker"]

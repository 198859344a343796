# syntax=docker/dockerfile:1
# TCC coordinator image. Build: `docker build -t tcc-coordinator .`
# Run:   docker run -p 50051:50051 -v tcc-data:/app/data tcc-coordinator
# (SQLite under /app/data by default; set TCC_DB_URL=mysql://... for MySQL/MariaDB.)
# The example participants run from the same image with another command:
#   node dist/participants/account/main.js | node dist/participants/inventory/main.js
# (see participants/README.md and docker-compose.yml).
# Not built in this project's CI: its machines have no Docker engine.

# ---- build: compile TypeScript, then keep only production dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 is a native addon: npm uses a prebuilt binary when one can be
# downloaded and compiles it otherwise, which needs these.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
# The whole context (see .dockerignore): `npm ci` runs the "prepare" script,
# which compiles (once: no separate build step), so the sources must be there before it.
COPY . .
RUN npm ci && npm prune --omit=dev

# ---- runtime ----
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    TCC_GRPC_ADDR=0.0.0.0:50051
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
# What runs: the coordinator, its migrations and the example participants; not the
# compiled tests and benchmark (dist/test, dist/bench).
COPY --from=build /app/dist/src ./dist/src
COPY --from=build /app/dist/migrations ./dist/migrations
COPY --from=build /app/dist/participants ./dist/participants
# The .proto files are loaded at run time (src/protocol/tcc-proto.ts resolves
# ../../../proto from dist/src/protocol). Migrations are compiled into dist/.
COPY --from=build /app/proto ./proto
# Lua scripts (participant Redis barrier, singleton leases) are read at run time from the source tree.
COPY --from=build /app/src/participant/lua ./src/participant/lua
COPY --from=build /app/src/lease/lua ./src/lease/lua
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
USER node
EXPOSE 50051
# SIGTERM (docker stop) drains in-flight calls for up to TCC_SHUTDOWN_GRACE_MS
# (default 10 s) before closing: give the container more than that to stop.
STOPSIGNAL SIGTERM
# Through the file's shebang: it carries the node flags that bound the V8 heap (see src/main.ts).
CMD ["./dist/src/main.js"]

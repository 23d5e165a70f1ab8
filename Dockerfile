# Mycel container image. Build: `docker build -t mycel .` (or `podman build --format docker`,
# which keeps the HEALTHCHECK). Run: see docs/operations.md and deploy/compose.yaml.

# --- build stage: TypeScript and the native addon ----------------------------------------------
FROM node:24-bookworm AS build
WORKDIR /src
# better-sqlite3 is compiled here against this Node's own headers, never downloaded prebuilt.
ENV npm_config_build_from_source=better-sqlite3 \
    npm_config_nodedir=/usr/local \
    npm_config_update_notifier=false \
    npm_config_fund=false \
    npm_config_audit=false
COPY package.json package-lock.json ./
# Scripts off for `npm ci` (the package's own `prepare` needs the sources, copied below), then
# the one dependency that has an install script is built.
RUN npm ci --ignore-scripts && npm rebuild better-sqlite3
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# Of better-sqlite3's build only the addon itself is needed at run time (its sources and object
# files are most of its size).
RUN npm run build && npm prune --omit=dev --ignore-scripts \
 && cd node_modules/better-sqlite3 && mv build/Release/better_sqlite3.node /tmp/ \
 && rm -rf build deps src && mkdir -p build/Release && mv /tmp/better_sqlite3.node build/Release/ \
 && cd /src && node -e "new (require('better-sqlite3'))(':memory:').close()"

# --- runtime stage: dist/, production dependencies and Node 24 ----------------------------------
FROM node:24-bookworm-slim
ARG VERSION=0.1.0
ARG SOURCE=https://github.com/mycel/mycel
LABEL org.opencontainers.image.title="mycel" \
      org.opencontainers.image.description="Self-hostable node server: shared database node, realtime server, content-addressed store and federated compute" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="MIT"
ENV NODE_ENV=production \
    MYCEL_DATA_DIR=/data \
    MYCEL_HOST=0.0.0.0 \
    MYCEL_PORT=5103
WORKDIR /app
COPY --from=build /src/package.json ./package.json
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist ./dist
# `mycel` on the PATH for `docker exec … mycel info`.
RUN ln -s /app/dist/cli/index.js /usr/local/bin/mycel && chmod 755 /app/dist/cli/index.js \
 && mkdir -p /data && chown node:node /data
# The image's user: `node` (uid 1000) of the base image; /data belongs to it, so a named
# volume starts with the right owner. A bind mount must be writable by uid 1000.
USER node
VOLUME /data
EXPOSE 5103
# No curl in a slim image: Node itself asks /readyz (200 once the database is open and the
# node is serving; 503 while starting or shutting down).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.MYCEL_PORT||5103)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# Exec form: node is PID 1 and receives SIGTERM itself; `mycel serve` handles it by closing
# gracefully within server.shutdownGraceSeconds (10 s by default; give `docker stop` more).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/app/dist/cli/index.js"]
CMD ["serve"]

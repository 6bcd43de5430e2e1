# driftlock's container image: the daemon on Node.js 20, as a non-root user, state in a volume.
#
#   docker build -t driftlock .
#   docker run --rm driftlock                                  # the embedded demo pipeline, alerts on stdout
#   docker run -d -v $PWD/pipeline.yaml:/etc/driftlock/driftlock.yaml:ro \
#     -v driftlock-data:/var/lib/driftlock driftlock            # your pipeline
#
# The pipeline is read from $DRIFTLOCK_CONFIG, /etc/driftlock/driftlock.yaml: the embedded default (the demo)
# until a file is mounted over it. State (checkpoints, queues, detector snapshots) goes to
# $DRIFTLOCK_DATA_DIR (/var/lib/driftlock) when the pipeline writes `data_dir: ${DRIFTLOCK_DATA_DIR:-...}`,
# as the examples do: keep it on a volume so restarts resume where they stopped. Logs are JSON lines on
# stderr. docker stop's SIGTERM drains the pipeline (shutdown_timeout, 30 s by default: give `docker stop -t`
# or Kubernetes' terminationGracePeriodSeconds more than that).

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No install scripts: none of the dependencies needs one, and `prepare` would build before the sources are here.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY bench ./bench
COPY eval ./eval
RUN npx tsc -p tsconfig.build.json && npm prune --omit=dev --ignore-scripts

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DRIFTLOCK_CONFIG=/etc/driftlock/driftlock.yaml \
    DRIFTLOCK_DATA_DIR=/var/lib/driftlock
WORKDIR /app
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules ./node_modules
COPY --from=build /src/dist/src ./dist/src
COPY config ./config
COPY proto ./proto
COPY config/driftlock.yaml /etc/driftlock/driftlock.yaml
RUN mkdir -p /var/lib/driftlock && chown node:node /var/lib/driftlock
USER node
VOLUME /var/lib/driftlock
# The HTTP API (/livez, /readyz, /metrics) when the pipeline sets api.enabled and api.address 0.0.0.0:8686.
EXPOSE 8686
ENTRYPOINT ["node", "/app/dist/src/cli/main.js"]
CMD ["run"]

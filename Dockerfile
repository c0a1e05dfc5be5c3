# The operator and agent image: Node 24 runs the TypeScript sources, with their types
# stripped once here (`npm run build` writes dist/; bin/prestripped.js loads it), so the
# run-time type stripper never loads: ~25-30 MiB less resident memory per process.
# `docker build -t manyfold .` where Docker exists. BASE_IMAGE is any image with Node
# 24, npm and a shell; without a registry, `manyfold dev image` builds this file on a
# base made here from Debian packages and the project's own Node 24
# (src/devcluster/image/build.ts).
ARG BASE_IMAGE=node:24-slim
FROM ${BASE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY deploy ./deploy
COPY scripts/ensure-deps.js ./scripts/ensure-deps.js
COPY scripts/strip-types.js ./scripts/strip-types.js
RUN node scripts/strip-types.js
USER 65532:65532
# --optimize-for-size: a smaller V8 heap for the same work (NODE_OPTIONS refuses this
# flag; bench/README.md, issue 15). The operator's Deployment adds --jitless through
# NODE_OPTIONS; not here, because the agent (same image) uses undici, whose HTTP parser
# is WebAssembly, which --jitless disables.
ENTRYPOINT ["node", "--optimize-for-size", "bin/manyfold.js"]
CMD ["operator"]

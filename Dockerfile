# The operator and agent image: Node 24 runs the TypeScript sources directly (type
# stripping), so there is no build step. Unverified on this project's CI machines (no
# Docker engine there); `docker build -t manyfold .` where Docker exists.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY src ./src
COPY deploy ./deploy
COPY scripts/ensure-deps.js ./scripts/ensure-deps.js
USER 65532:65532
ENTRYPOINT ["node", "bin/manyfold.js"]
CMD ["operator"]

/**
 * Example: a Node `http` server whose requests to a partner API are limited by the
 * RatePolicy in examples/rate-policy.yaml. Run it in a pod selected by the policy
 * (POD_NAME and POD_NAMESPACE from the downward API), or locally against a cluster:
 *
 *   POD_NAME=$(hostname) npx node examples/rate-limited-server.ts --namespace manyfold-examples
 *
 * Requests over this pod's share get `429 Too Many Requests` with `Retry-After`.
 */
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { createRateLimiter, rateLimited } from 'manyfold';

const { values } = parseArgs({ options: { namespace: { type: 'string' }, port: { type: 'string', default: '8080' } } });
const limiter = await createRateLimiter({ namespace: values.namespace, policy: 'partner-api', limit: 'calls' });

const server = createServer(
  rateLimited(
    limiter,
    (_request, response) => {
      response.end('called the partner API\n');
    },
    { keyOf: (request) => String(request.headers['x-customer'] ?? 'anonymous') },
  ),
);
server.listen(Number(values.port), '127.0.0.1');

process.once('SIGTERM', () => {
  server.close();
  void limiter.close(); // acknowledges the last version received
});

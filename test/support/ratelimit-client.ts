/**
 * A rate-limiter client as its own process, for integration tests and benchmarks:
 * `node test/support/ratelimit-client.ts <kubeconfig> <namespace> <policy> <limit> <podName>`.
 * It prints one JSON line per share change (`share_changed`/`share_lapsed`, with the
 * wall time `at` in ms of the change itself), and on a limit the policy lacks one line
 * `{"error":"RateLimitNotFoundError","message":…}` and exit code 3. SIGTERM closes the
 * limiter (a last acknowledgement) and exits 0.
 */
import { pino } from 'pino';
import { createRateLimiter } from '../../src/index.ts';

const [kubeconfig, namespace, policy, limit, podName] = process.argv.slice(2);
if (!kubeconfig || !namespace || !policy || !limit || !podName) {
  process.stderr.write('usage: ratelimit-client.ts <kubeconfig> <namespace> <policy> <limit> <podName>\n');
  process.exit(2);
}
process.stdout.on('error', () => process.exit(0)); // the parent went away
const log = pino({ level: 'debug', base: { pod: podName }, timestamp: () => `,"at":${Date.now()}` }, process.stdout);
try {
  const limiter = await createRateLimiter({ kubeconfig, namespace, policy, limit, podName, log });
  const first = limiter.share();
  log.info({ event: 'started', state: first.state, rps: first.requestsPerSecond, version: first.version }, 'started');
  process.once('SIGTERM', () => {
    void limiter.close().then(() => process.exit(0));
  });
} catch (error) {
  process.stdout.write(`${JSON.stringify({ error: error instanceof Error ? error.name : 'Error', message: error instanceof Error ? error.message : String(error) })}\n`);
  process.exit(3);
}

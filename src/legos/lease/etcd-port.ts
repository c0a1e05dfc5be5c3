/**
 * {@link LeasePort} over etcd3's low-level RPC clients. Watches use one raw gRPC watch
 * stream each (not etcd3's shared watch manager), so a waiter's watch has one owner
 * and a failure touches nobody else; keep-alives use one short stream per request, so
 * each answer belongs to exactly one send time.
 *
 * Streams are closed with `end()` before `cancel()`: etcd3 treats an error on a stream
 * that is still writable as a host failure and resets every channel to that host.
 *
 * Limitations: `waitGone` re-reads the key every `recheckMs` (default 10 s) as a guard
 * against a silently lost watch; `watchDir` relies on gRPC keep-alive pings to notice a
 * dead connection (about 15 s with the default options).
 */
import type { Clock } from '../clock.ts';
import type { IEvent, IRequestOp } from 'etcd3';
import { EtcdRetryBackoff } from './config.ts';
import { LeaseError, LeaseUnavailableError } from './errors.ts';
import { loadedEtcd3, type EtcdConnection } from './etcd-connection.ts';

/** etcd3's "lease not found" error (etcd3 is imported lazily: etcd-connection.ts). */
function isLeaseInvalid(error: unknown): boolean {
  const etcd3 = loadedEtcd3();
  return etcd3 !== undefined && error instanceof etcd3.EtcdLeaseInvalidError;
}
import type { LeasePort, ReadResult, StoredKey } from './port.ts';
import type { FencedOp } from './types.ts';

const key = (value: string): Buffer => Buffer.from(value, 'utf8');
const bytes = (value: string | Uint8Array): Buffer => (typeof value === 'string' ? Buffer.from(value, 'utf8') : Buffer.from(value.buffer, value.byteOffset, value.byteLength));

/** The range end that covers every key starting with `prefix`. */
export function prefixEnd(prefix: string): Buffer {
  const end = Buffer.from(prefix, 'utf8');
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

function stored(kv: { key: Buffer; value: Buffer; create_revision: string; mod_revision: string; lease: string }): StoredKey {
  return { key: kv.key.toString('utf8'), value: new Uint8Array(kv.value), createRevision: BigInt(kv.create_revision), modRevision: BigInt(kv.mod_revision), leaseId: kv.lease };
}

function abortReason(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  return reason instanceof Error ? reason : new DOMException(`This operation was aborted${reason === undefined ? '' : `: ${JSON.stringify(reason)}`}`, 'AbortError');
}

type WatchOutcome = 'done' | 'interrupted';

export class EtcdLeasePort implements LeasePort {
  readonly #conn: EtcdConnection;
  readonly #clock: Clock;
  readonly #recheckMs: number;

  constructor(conn: EtcdConnection, clock: Clock, options: { recheckMs?: number } = {}) {
    this.#conn = conn;
    this.#clock = clock;
    this.#recheckMs = options.recheckMs ?? 10_000;
  }

  async grant(ttlSeconds: number): Promise<string> {
    const response = await this.#conn.call('lease grant', (c) => c.leaseClient.leaseGrant({ TTL: ttlSeconds, ID: 0 }));
    return response.ID;
  }

  async keepAlive(leaseId: string, options: { readonly timeoutMs: number }): Promise<number> {
    return this.#conn.call('lease keep-alive', async (c) => {
      const stream = await c.leaseClient.leaseKeepAlive();
      return new Promise<number>((resolve, reject) => {
        const timer = setTimeout(() => {
          stream.end();
          stream.cancel();
          reject(new Error(`no keep-alive answer within ${options.timeoutMs} ms`));
        }, options.timeoutMs);
        stream.on('data', (response) => {
          clearTimeout(timer);
          stream.end();
          resolve(Number(response.TTL));
        });
        stream.on('error', (error) => {
          clearTimeout(timer);
          if (isLeaseInvalid(error) || /lease not found/.test(error.message)) resolve(0);
          else reject(error);
        });
        stream.write({ ID: leaseId });
      });
    });
  }

  async revoke(leaseId: string, options: { readonly timeoutMs?: number } = {}): Promise<boolean> {
    const timeoutMs = options.timeoutMs ?? this.#conn.requestTimeoutMs;
    return this.#conn.call('lease revoke', async (c) => {
      try {
        await c.leaseClient.leaseRevoke({ ID: leaseId }, { deadline: Date.now() + timeoutMs });
        return true;
      } catch (error) {
        if (isLeaseInvalid(error)) return false;
        throw error;
      }
    });
  }

  async timeToLive(leaseId: string): Promise<{ remainingSeconds: number; grantedSeconds: number } | undefined> {
    return this.#conn.call('lease time-to-live', async (c) => {
      try {
        const response = await c.leaseClient.leaseTimeToLive({ ID: leaseId });
        const remainingSeconds = Number(response.TTL);
        return remainingSeconds < 0 ? undefined : { remainingSeconds, grantedSeconds: Number(response.grantedTTL) };
      } catch (error) {
        if (isLeaseInvalid(error)) return undefined;
        throw error;
      }
    });
  }

  async enqueue(request: { dir: string; key: string; leaseId: string; value: Uint8Array; valueIfFirst: Uint8Array }) {
    const own: IRequestOp = { request_range: { key: key(request.key) } };
    // Right after our put, our key is the newest under `dir`: the second newest is our predecessor.
    const newestTwo: IRequestOp = { request_range: { key: key(request.dir), range_end: prefixEnd(request.dir), sort_order: 'Descend', sort_target: 'Create', limit: 2 } };
    const response = await this.#conn.call('lease enqueue', (c) =>
      c.kv.txn({
        // A range compare on an empty range compares against a zero key: true iff `dir` is empty.
        compare: [{ key: key(request.dir), range_end: prefixEnd(request.dir), target: 'Create', result: 'Equal', create_revision: 0 }],
        success: [{ request_put: { key: key(request.key), value: bytes(request.valueIfFirst), lease: request.leaseId } }, own],
        failure: [{ request_put: { key: key(request.key), value: bytes(request.value), lease: request.leaseId } }, own, newestTwo],
      }),
    );
    const mine = response.responses[1]?.response_range.kvs[0];
    if (!mine) throw new LeaseUnavailableError(`lease enqueue: ${request.key} missing right after its put (its lease expired?)`);
    const createRevision = BigInt(mine.create_revision);
    const revision = BigInt(response.header.revision);
    if (response.succeeded) return { createRevision, first: true, predecessor: undefined, revision };
    const newest = (response.responses[2]?.response_range.kvs ?? []).map(stored);
    const predecessor = newest[0]?.createRevision === createRevision ? newest[1] : 'unknown';
    return { createRevision, first: false, predecessor, revision } as const;
  }

  async claimTurn(request: { dir: string; holderKey: string; token: bigint; holderValue: Uint8Array }) {
    const response = await this.#conn.call('lease claim', (c) =>
      c.kv.txn({
        compare: [
          { key: key(request.holderKey), target: 'Create', result: 'Equal', create_revision: request.token.toString() },
          // Every key under `dir` was created at or after ours: nobody is ahead.
          { key: key(request.dir), range_end: prefixEnd(request.dir), target: 'Create', result: 'Greater', create_revision: (request.token - 1n).toString() },
        ],
        success: [{ request_put: { key: key(request.holderKey), value: bytes(request.holderValue), ignore_lease: true } }],
        failure: [
          { request_range: { key: key(request.holderKey) } },
          { request_range: { key: key(request.dir), range_end: prefixEnd(request.dir), sort_order: 'Descend', sort_target: 'Create', limit: 1, max_create_revision: (request.token - 1n).toString() } },
        ],
      }),
    );
    const revision = BigInt(response.header.revision);
    if (response.succeeded) return { claimed: true, revision } as const;
    const own = response.responses[0]?.response_range.kvs[0];
    const ahead = response.responses[1]?.response_range.kvs[0];
    return { claimed: false, ownKeyExists: own !== undefined && BigInt(own.create_revision) === request.token, predecessor: ahead ? stored(ahead) : undefined, revision } as const;
  }

  async lastCreatedUpTo(dir: string, maxCreateRevision: bigint): Promise<ReadResult<StoredKey | undefined>> {
    const response = await this.#conn.call('lease predecessor read', (c) =>
      c.kv.range({ key: key(dir), range_end: prefixEnd(dir), sort_order: 'Descend', sort_target: 'Create', limit: 1, max_create_revision: maxCreateRevision.toString() }),
    );
    const kv = response.kvs[0];
    return { revision: BigInt(response.header.revision), value: kv ? stored(kv) : undefined };
  }

  async firstCreated(dir: string): Promise<ReadResult<{ first: StoredKey | undefined; count: number }>> {
    const response = await this.#conn.call('lease holder read', (c) =>
      c.kv.range({ key: key(dir), range_end: prefixEnd(dir), sort_order: 'Ascend', sort_target: 'Create', limit: 1 }),
    );
    const kv = response.kvs[0];
    return { revision: BigInt(response.header.revision), value: { first: kv ? stored(kv) : undefined, count: Number(response.count) } };
  }

  async waitGone(watched: string, createRevision: bigint, fromRevision: bigint, signal: AbortSignal): Promise<void> {
    let from = fromRevision;
    let failures = 0;
    for (;;) {
      const outcome = await this.#watch({ key: watched }, from, signal, { timeoutMs: this.#recheckMs, onEvents: (events) => events.some((e) => e.type === 'Delete') });
      if (outcome === 'done') return;
      try {
        const response = await this.#conn.call('lease key read', (c) => c.kv.range({ key: key(watched) }));
        const kv = response.kvs[0];
        if (!kv || BigInt(kv.create_revision) !== createRevision) return;
        from = BigInt(response.header.revision) + 1n;
        failures = 0;
      } catch (error) {
        if (error instanceof LeaseError && !error.retryable) throw error;
        failures++;
        await this.#clock.sleep(EtcdRetryBackoff.delayAfterFailures(failures), signal);
      }
    }
  }

  async txnIfCurrent(request: { holderKey: string; token: bigint; ops: readonly FencedOp[] }): Promise<{ committed: boolean; revision: bigint }> {
    const success: IRequestOp[] = request.ops.map((op) =>
      op.type === 'put' ? { request_put: { key: key(op.key), value: bytes(op.value) } } : { request_delete_range: { key: key(op.key) } },
    );
    const response = await this.#conn.call('fenced transaction', (c) =>
      c.kv.txn({ compare: [{ key: key(request.holderKey), target: 'Create', result: 'Equal', create_revision: request.token.toString() }], success, failure: [] }),
    );
    return { committed: response.succeeded, revision: BigInt(response.header.revision) };
  }

  async deleteDir(dir: string): Promise<number> {
    const response = await this.#conn.call('lease delete', (c) => c.kv.deleteRange({ key: key(dir), range_end: prefixEnd(dir) }));
    return Number(response.deleted);
  }

  watchDir(dir: string, fromRevision: bigint, signal: AbortSignal, handlers: { onChange: (revision: bigint) => void; onResync: () => void }): void {
    const run = async () => {
      let from: bigint | undefined = fromRevision;
      let failures = 0;
      while (!signal.aborted) {
        const outcome = await this.#watch({ key: dir, rangeEnd: prefixEnd(dir) }, from, signal, {
          onCreated: () => {
            if (from === undefined) handlers.onResync();
            failures = 0;
          },
          onEvents: (_events, revision) => {
            handlers.onChange(revision);
            return false;
          },
        });
        if (outcome === 'done') return;
        // Resume from "now" and re-read everything once the new watch is in place.
        from = undefined;
        failures++;
        await this.#clock.sleep(EtcdRetryBackoff.delayAfterFailures(failures), signal);
      }
    };
    run().catch(() => undefined);
  }

  close(): void {
    this.#conn.close();
  }

  /**
   * One watch stream from `fromRevision` (or from now): resolves `done` when `onEvents`
   * says so, `interrupted` on stream loss, cancellation (e.g. compaction) or timeout;
   * rejects when `signal` aborts.
   */
  async #watch(
    range: { key: string; rangeEnd?: Buffer },
    fromRevision: bigint | undefined,
    signal: AbortSignal,
    options: { timeoutMs?: number; onCreated?: () => void; onEvents: (events: IEvent[], revision: bigint) => boolean },
  ): Promise<WatchOutcome> {
    signal.throwIfAborted();
    let stream;
    try {
      stream = await this.#conn.call('watch', (c) => c.watchClient.watch());
    } catch {
      return 'interrupted';
    }
    const open = stream;
    return new Promise<WatchOutcome>((resolve, reject) => {
      let settled = false;
      const finish = (outcome: WatchOutcome | 'aborted') => {
        if (settled) return;
        settled = true;
        if (timer) clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        open.end();
        open.cancel();
        if (outcome === 'aborted') reject(abortReason(signal));
        else resolve(outcome);
      };
      const onAbort = () => finish('aborted');
      const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => finish('interrupted'), options.timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      open.on('data', (response) => {
        if (settled) return;
        if (response.canceled) return finish('interrupted');
        if (response.created) return options.onCreated?.();
        if (response.events.length > 0 && options.onEvents(response.events, BigInt(response.header.revision))) finish('done');
      });
      open.on('error', (error) => {
        this.#conn.reportError(error);
        finish('interrupted');
      });
      open.on('end', () => finish('interrupted'));
      open.write({
        create_request: {
          key: key(range.key),
          ...(range.rangeEnd ? { range_end: range.rangeEnd } : {}),
          ...(fromRevision === undefined ? {} : { start_revision: fromRevision.toString() }),
        },
      });
    });
  }
}

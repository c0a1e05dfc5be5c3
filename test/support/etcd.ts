/**
 * Real etcd processes for tests and benchmarks: a single member or a 3-member cluster
 * on 127.0.0.1, each member in its own data dir under one temp dir, with per-member
 * stop/start (restart keeps the data dir) and leader lookup/transfer through etcd's
 * maintenance API (its JSON gateway: `/v3/maintenance/status`, `/transfer-leadership`).
 *
 * The binary comes from the cache (`$KUBEBUILDER_ASSETS/etcd` or
 * `~/.cache/manyfold/bin/etcd-<version>/etcd`); only when it is missing does this call
 * `ensureAssets({ build: true })`, which would also build the Kubernetes binaries.
 *
 * Every process started here is stopped by pid in `stop()`; call it in afterAll/afterEach.
 *
 * With `tls`, clients must speak TLS to the members and present a certificate signed by
 * the given CA (`--client-cert-auth`); peers still talk plain HTTP on 127.0.0.1.
 * `leaderIndex()` and `moveLeader()` use plain HTTP and work only without `tls`.
 *
 * Limitations: `--unsafe-no-fsync` (a crash of the machine may lose etcd data: fine for
 * tests, never for production); ports come from `freePort()` and may race with other
 * processes grabbing the same port between allocation and etcd's bind.
 */
import { accessSync, constants } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Versions, cacheRoot, ensureAssets } from '../../src/devcluster/assets.ts';
import { type ProcessRecord, freePort, isRunning, startProcess, stopProcess, waitReady } from '../../src/devcluster/processes.ts';

/** Path of the etcd binary, building it only when no cached one exists. */
export async function etcdBinary(): Promise<string> {
  const assets = process.env['KUBEBUILDER_ASSETS'];
  const candidates = [...(assets ? [join(assets, 'etcd')] : []), join(cacheRoot(), 'bin', `etcd-${Versions.etcd}`, 'etcd')];
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // try the next one
    }
  }
  return (await ensureAssets({ build: true })).etcd;
}

/** PEM files for a TLS etcd: the CA, the members' serving pair and a client pair for health checks. */
export interface EtcdTlsFiles {
  readonly caCert: string;
  readonly serverCert: string;
  readonly serverKey: string;
  readonly clientCert: string;
  readonly clientKey: string;
}

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly log: string;
  /** The running process (undefined while stopped). */
  process: ProcessRecord | undefined;
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
  const text = await response.text();
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}: ${text}`);
  return JSON.parse(text) as unknown;
}

interface TlsMaterial {
  readonly ca: Buffer;
  readonly cert: Buffer;
  readonly key: Buffer;
}

/** GET over TLS with a client certificate (fetch cannot present one). */
function httpsGet(url: string, tls: TlsMaterial): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...tls, timeout: 2000 }, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, body }));
      response.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function healthy(member: EtcdMember, tls: TlsMaterial | undefined): Promise<boolean> {
  const url = `${member.clientUrl}/health`;
  if (tls) {
    const { status, body } = await httpsGet(url, tls);
    return status === 200 && (JSON.parse(body) as { health?: string }).health === 'true';
  }
  const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
  const body = (await response.json()) as { health?: string };
  return response.ok && body.health === 'true';
}

/** Status of one member: its own ID and the leader it sees ('0' when none). */
export async function memberStatus(member: EtcdMember): Promise<{ memberId: string; leader: string }> {
  const body = (await postJson(`${member.clientUrl}/v3/maintenance/status`, {})) as { header?: { member_id?: string }; leader?: string };
  return { memberId: body.header?.member_id ?? '0', leader: body.leader ?? '0' };
}

/** A set of etcd members started by this module. */
export class EtcdCluster {
  readonly members: readonly EtcdMember[];
  readonly #binary: string;
  readonly #root: string;
  readonly #initialCluster: string;
  readonly #tlsFiles: EtcdTlsFiles | undefined;
  readonly #tls: TlsMaterial | undefined;
  readonly #clientCertAuth: boolean;

  private constructor(binary: string, root: string, members: EtcdMember[], tls?: { files: EtcdTlsFiles; material: TlsMaterial; clientCertAuth: boolean }) {
    this.#binary = binary;
    this.#root = root;
    this.members = members;
    this.#tlsFiles = tls?.files;
    this.#tls = tls?.material;
    this.#clientCertAuth = tls?.clientCertAuth ?? true;
    this.#initialCluster = members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
  }

  /** Starts `size` members (1 or 3) and waits until every one reports healthy. */
  /**
   * @param options.clientCertAuth with `tls`, whether clients must present a certificate
   *   (`--client-cert-auth`); false serves TLS to clients that authenticate otherwise
   *   (user and password). Default true.
   */
  static async start(options: { size?: 1 | 3; name?: string; tls?: EtcdTlsFiles; clientCertAuth?: boolean } = {}): Promise<EtcdCluster> {
    const size = options.size ?? 1;
    const files = options.tls;
    const material = files
      ? { ca: await readFile(files.caCert), cert: await readFile(files.clientCert), key: await readFile(files.clientKey) }
      : undefined;
    const binary = await etcdBinary();
    const root = await mkdtemp(join(tmpdir(), `manyfold-${options.name ?? 'etcd'}-`));
    const members: EtcdMember[] = [];
    for (let i = 0; i < size; i++) {
      const name = `m${i}`;
      members.push({
        name,
        clientUrl: `${files ? 'https' : 'http'}://127.0.0.1:${await freePort()}`,
        peerUrl: `http://127.0.0.1:${await freePort()}`,
        dataDir: join(root, name),
        log: join(root, `${name}.log`),
        process: undefined,
      });
    }
    const cluster = new EtcdCluster(binary, root, members, files && material ? { files, material, clientCertAuth: options.clientCertAuth ?? true } : undefined);
    try {
      for (let i = 0; i < size; i++) cluster.#spawn(i);
      await Promise.all(members.map((_, i) => cluster.waitHealthy(i)));
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  /** Client URLs of all members. */
  get endpoints(): string[] {
    return this.members.map((m) => m.clientUrl);
  }

  #member(index: number): EtcdMember {
    const member = this.members[index];
    if (!member) throw new RangeError(`no etcd member ${index}`);
    return member;
  }

  #spawn(index: number): void {
    const m = this.#member(index);
    if (m.process && isRunning(m.process)) throw new Error(`etcd member ${m.name} is already running`);
    m.process = startProcess({
      name: `etcd-${m.name}`,
      binary: this.#binary,
      log: m.log,
      args: [
        `--name=${m.name}`,
        `--data-dir=${m.dataDir}`,
        `--listen-client-urls=${m.clientUrl}`,
        `--advertise-client-urls=${m.clientUrl}`,
        `--listen-peer-urls=${m.peerUrl}`,
        `--initial-advertise-peer-urls=${m.peerUrl}`,
        `--initial-cluster=${this.#initialCluster}`,
        '--initial-cluster-state=new',
        `--initial-cluster-token=${this.#root.split('/').pop() ?? 'manyfold'}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
        ...(this.#tlsFiles
          ? [
              `--cert-file=${this.#tlsFiles.serverCert}`,
              `--key-file=${this.#tlsFiles.serverKey}`,
              // etcd requires a client certificate whenever it has a trusted CA, flag or not.
              ...(this.#clientCertAuth ? [`--trusted-ca-file=${this.#tlsFiles.caCert}`, '--client-cert-auth'] : []),
            ]
          : []),
      ],
    });
  }

  /** Waits until member `index` answers `/health` with true. */
  async waitHealthy(index: number, timeoutMs = 30_000): Promise<void> {
    const m = this.#member(index);
    if (!m.process) throw new Error(`etcd member ${m.name} is not running`);
    await waitReady(m.process, () => healthy(m, this.#tls), { timeoutMs, intervalMs: 100, what: 'healthy' });
  }

  /**
   * Stops member `index`: SIGTERM, then SIGKILL after `graceMs` (default 5000; 0 kills
   * at once, like a crash). Its data dir stays.
   */
  async stopMember(index: number, options: { graceMs?: number } = {}): Promise<void> {
    const m = this.#member(index);
    if (m.process) await stopProcess(m.process, { graceMs: options.graceMs ?? 5000 });
    m.process = undefined;
  }

  /** Starts a stopped member again with the same data dir; `wait` for it to be healthy (default true). */
  async startMember(index: number, options: { wait?: boolean } = {}): Promise<void> {
    this.#spawn(index);
    if (options.wait ?? true) await this.waitHealthy(index);
  }

  /** Index of the current leader, as the running members see it (waits for one up to 15 s). */
  async leaderIndex(): Promise<number> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const ids = new Map<string, number>();
      let leader = '0';
      for (const [i, m] of this.members.entries()) {
        if (!m.process) continue;
        try {
          const status = await memberStatus(m);
          ids.set(status.memberId, i);
          if (status.leader !== '0') leader = status.leader;
        } catch {
          // member not answering; ask the others
        }
      }
      const index = ids.get(leader);
      if (index !== undefined) return index;
      if (Date.now() > deadline) throw new Error('no etcd leader after 15 s');
      await sleep(100);
    }
  }

  /** Transfers leadership to member `target` (etcd's MoveLeader); resolves once it leads. */
  async moveLeader(target: number): Promise<void> {
    const leader = await this.leaderIndex();
    if (leader === target) return;
    const { memberId } = await memberStatus(this.#member(target));
    await postJson(`${this.#member(leader).clientUrl}/v3/maintenance/transfer-leadership`, { targetID: memberId });
    const deadline = Date.now() + 15_000;
    while ((await this.leaderIndex()) !== target) {
      if (Date.now() > deadline) throw new Error(`leadership did not move to ${this.#member(target).name}`);
      await sleep(100);
    }
  }

  /** Stops every member by pid and removes the temp dir. */
  async stop(): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stopMember(i)));
    await rm(this.#root, { recursive: true, force: true });
  }
}

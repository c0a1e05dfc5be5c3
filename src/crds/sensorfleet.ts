/**
 * `SensorFleet`: edge-sensor node agents on selected nodes. Declares the sensors
 * (source, interval, filters), the local spool, the sink and when a node counts as
 * stale; the operator runs a DaemonSet of `manyfold agent` with this config and
 * aggregates per-node heartbeats into the status.
 *
 * Apply-time validation: source, filter and sink `type`s are enums and each variant's
 * fields are required or forbidden by generated CEL rules naming the field (a
 * threshold filter needs `threshold` > 0); intervals are integers ≥
 * {@link MIN_INTERVAL_MS} ms; a spool holds at least {@link SPOOL_MIN_BYTES}; sensor
 * names are unique DNS labels.
 *
 * Limitations: at most {@link MAX_SENSORS} sensors with {@link MAX_FILTERS} filters
 * each; status lists at most {@link MAX_STALE_NODES} stale node names (the count is exact).
 */
import { z } from 'zod';
import { ABSOLUTE_PATH, DNS_LABEL, HTTP_URL, TolerationSchema, count, statusBaseShape, timestamp } from './common.ts';
import type { KindDefinition } from './crd.ts';
import { atomic, listMap, listSet } from './extensions.ts';
import { parseWith, type ParseResult } from './parse.ts';

/**
 * Shortest sampling interval. Below about 10 ms Node timer jitter dominates and each
 * sample's durable spool append cannot keep up on small devices; high-rate devices
 * belong on a `stream` source, which is push-driven.
 */
export const MIN_INTERVAL_MS = 10;
/** Largest record the agent spools (encoded sample plus header). */
export const MAX_RECORD_BYTES = 16 * 1024;
/**
 * Smallest spool: four records of the largest size. A spool that cannot hold several
 * whole records cannot buffer anything across a sink outage, so it is rejected at apply
 * time instead of dropping every sample at run time.
 */
export const SPOOL_MIN_BYTES = 4 * MAX_RECORD_BYTES;
export const MAX_SENSORS = 64;
export const MAX_FILTERS = 8;
export const MAX_STALE_NODES = 50;

/** Code-side defaults of a SensorFleet spec (never written into the stored spec). */
/**
 * Smallest `staleAfterSeconds`: agents heartbeat every max(1, floor(s / 3)) s, so with
 * s = 1 or 2 a node goes stale between two on-time heartbeats (measured with 200 agents:
 * bench/README.md, issue 15); from 3 on it takes two missed heartbeats.
 */
export const MIN_STALE_AFTER_SECONDS = 3;

export const SensorFleetDefaults = {
  intervalMs: 1000,
  staleAfterSeconds: 60,
  degradedStaleFraction: 0.5,
  spool: { maxBytes: 64 * 1024 * 1024, maxAgeSeconds: 7 * 24 * 3600, overflow: 'dropOldest' },
  sink: { batchSize: 100, timeoutMs: 10_000 },
  stream: { delimiter: '\n' },
  simulated: { waveform: 'sine', base: 0, amplitude: 1, noise: 0, periodMs: 60_000 },
} as const;

const nodePath = z
  .string()
  .min(1)
  .max(4096)
  .regex(ABSOLUTE_PATH, 'must be an absolute path')
  .describe('Absolute path on the node: the file to read (type file), or the device file or Unix socket to read lines from (type stream).');

const SourceSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('file'), path: nodePath }).describe('Reads a file on every interval, e.g. /sys/class/thermal/thermal_zone0/temp.'),
    z
      .strictObject({
        type: z.literal('command'),
        command: z.array(z.string().min(1).max(4096)).min(1).max(32).describe('Executable and fixed leading arguments, run without a shell (type command).'),
        args: z.array(z.string().max(4096)).max(64).describe('Further arguments (type command).').optional(),
      })
      .describe('Runs a command on every interval and reads its standard output.'),
    z
      .strictObject({ type: z.literal('http'), url: z.string().max(2048).regex(HTTP_URL, 'must be an http:// or https:// URL').describe('URL to GET (type http).') })
      .describe('GETs a URL on every interval.'),
    z
      .strictObject({
        type: z.literal('stream'),
        path: nodePath,
        delimiter: z.string().min(1).max(16).default(SensorFleetDefaults.stream.delimiter).describe('Record delimiter of the stream (type stream).'),
      })
      .describe('Reads delimited records from a device file or Unix socket as they arrive.'),
    z
      .strictObject({
        type: z.literal('simulated'),
        waveform: z
          .enum(['sine', 'square', 'sawtooth', 'random', 'constant'])
          .default(SensorFleetDefaults.simulated.waveform)
          .describe('Shape of the simulated signal (type simulated).'),
        base: z.number().default(SensorFleetDefaults.simulated.base).describe('Centre value of the signal (type simulated).'),
        amplitude: z.number().min(0).default(SensorFleetDefaults.simulated.amplitude).describe('Amplitude of the signal (type simulated).'),
        noise: z.number().min(0).default(SensorFleetDefaults.simulated.noise).describe('Standard deviation of added Gaussian noise (type simulated).'),
        periodMs: z.int().min(MIN_INTERVAL_MS).max(86_400_000).default(SensorFleetDefaults.simulated.periodMs).describe('Period of the waveform in ms (type simulated).'),
      })
      .describe('Generates a synthetic signal, for demos and tests.'),
  ])
  .describe('Where the sensor reads from.');

const filterKey = z
  .string()
  .min(1)
  .max(253)
  .describe('Dot-separated path into the sample value to compare; omitted compares the whole value.')
  .optional();

const FilterSchema = z
  .discriminatedUnion('type', [
    z.strictObject({ type: z.literal('change'), key: filterKey }).describe('Passes the first value, then only values that differ from the last one passed.'),
    z
      .strictObject({
        type: z.literal('threshold'),
        key: filterKey,
        threshold: z.number().positive().describe('Dead band (type threshold): a number passes when it differs from the last passed value by more than this; required, > 0.'),
      })
      .describe('Passes a value only when it moved by more than threshold since the last value passed.'),
  ])
  .describe('A filter applied to the samples, in order.');

const SensorSchema = z
  .object({
    name: z.string().min(1).max(63).regex(DNS_LABEL, 'must be a DNS label').describe('Name of the sensor, unique in the fleet; labels its samples and metrics.'),
    source: SourceSchema,
    intervalMs: z
      .int()
      .min(MIN_INTERVAL_MS)
      .max(86_400_000)
      .default(SensorFleetDefaults.intervalMs)
      .describe(`Sampling interval in ms (at least ${MIN_INTERVAL_MS}); for stream sources, the rate at which the newest value is released.`),
    filters: atomic(z.array(FilterSchema).max(MAX_FILTERS), 'list').default([]).describe(`Filters applied in order (at most ${MAX_FILTERS}).`),
  })
  .describe('One sensor read by every agent of the fleet.');

const SpoolSchema = z
  .object({
    maxBytes: z
      .int()
      .min(SPOOL_MIN_BYTES)
      .max(2 ** 40)
      .default(SensorFleetDefaults.spool.maxBytes)
      .describe(`Disk the spool may use on each node, in bytes; at least ${SPOOL_MIN_BYTES} (four records of the largest size).`),
    maxAgeSeconds: z.int().min(1).max(365 * 24 * 3600).default(SensorFleetDefaults.spool.maxAgeSeconds).describe('Records older than this are dropped, forwarded or not.'),
    overflow: z
      .enum(['dropOldest', 'block'])
      .default(SensorFleetDefaults.spool.overflow)
      .describe('When the spool is full: dropOldest discards the oldest records (counted); block stops sampling until the sink catches up.'),
    path: z
      .string()
      .min(1)
      .max(4096)
      .regex(ABSOLUTE_PATH, 'must be an absolute path')
      .describe(
        "Deprecated; omit it. The administrator chooses the spool root on the nodes (operator flag --sensorfleet-spool-root); each fleet's spool is <root>/<namespace>/<fleet>. When given, it must equal that root.",
      )
      .optional(),
  })
  .describe('The durable local spool each agent forwards from (at-least-once, survives restarts).');

const SinkSchema = z
  .discriminatedUnion('type', [
    z
      .strictObject({
        type: z.literal('http'),
        url: z.string().max(2048).regex(HTTP_URL, 'must be an http:// or https:// URL').describe('Endpoint that receives batches by POST (type http).'),
        batchSize: z.int().min(1).max(10_000).default(SensorFleetDefaults.sink.batchSize).describe('Most records per POST (type http).'),
        timeoutMs: z.int().min(100).max(600_000).default(SensorFleetDefaults.sink.timeoutMs).describe('Timeout of one POST in ms (type http).'),
      })
      .describe('POSTs JSON batches, retried with backoff.'),
    z.strictObject({ type: z.literal('stdout') }).describe('Writes one JSON line per record to the agent log.'),
    z
      .strictObject({
        type: z.literal('file'),
        path: z.string().min(1).max(4096).regex(ABSOLUTE_PATH, 'must be an absolute path').describe('File on the node to append JSON lines to (type file).'),
      })
      .describe('Appends one JSON line per record to a file on the node.'),
  ])
  .describe('Where the agents forward samples.');

/** `SensorFleet.spec`. */
export const SensorFleetSpecSchema = z
  .object({
    nodeSelector: z.record(z.string(), z.string().max(63)).describe('Labels a node must have to run an agent; empty selects every node.').optional(),
    tolerations: atomic(z.array(TolerationSchema).max(32), 'list')
      .describe('Tolerations of the agent pods (for tainted edge nodes); only of taint keys the administrator allows (--sensorfleet-allowed-toleration-keys).')
      .optional(),
    sensors: listMap(z.array(SensorSchema).min(1).max(MAX_SENSORS), ['name']).describe(`Sensors every agent reads (1 to ${MAX_SENSORS}, unique names).`),
    spool: SpoolSchema.prefault({}),
    sink: SinkSchema,
    staleAfterSeconds: z
      .int()
      .min(MIN_STALE_AFTER_SECONDS, `must be at least ${MIN_STALE_AFTER_SECONDS}: agents heartbeat every max(1, staleAfterSeconds/3) s, so below ${MIN_STALE_AFTER_SECONDS} a single late heartbeat marks a node stale`)
      .max(86_400)
      .default(SensorFleetDefaults.staleAfterSeconds)
      .describe(
        `A node whose agent has not reported a sample for this long counts as stale. Agents heartbeat every max(1, floor(staleAfterSeconds / 3)) seconds; at least ${MIN_STALE_AFTER_SECONDS}, so that a node is stale only after missing two heartbeats.`,
      ),
    degradedStaleFraction: z
      .number()
      .min(0)
      .max(1)
      .default(SensorFleetDefaults.degradedStaleFraction)
      .describe('The fleet is Degraded when more than this fraction of its nodes is stale.'),
    image: z
      .string()
      .min(1)
      .max(1024)
      .describe("Agent container image; omitted uses the operator's own image. Other images only where the administrator allows them (--sensorfleet-allowed-images).")
      .optional(),
  })
  .describe('Desired state of the SensorFleet.');

/** `SensorFleet.spec` as written by users. */
export type SensorFleetSpecInput = z.input<typeof SensorFleetSpecSchema>;
/** `SensorFleet.spec` with code-side defaults applied. */
export type SensorFleetSpec = z.output<typeof SensorFleetSpecSchema>;
export type SensorSource = z.output<typeof SourceSchema>;
export type SensorFilter = z.output<typeof FilterSchema>;
export type SensorSink = z.output<typeof SinkSchema>;

/** `SensorFleet.status`. */
export const SensorFleetStatusSchema = z
  .object({
    ...statusBaseShape(),
    desiredNodes: count('Nodes that should run an agent.').optional(),
    readyNodes: count('Nodes whose agent pod is ready.').optional(),
    reportingNodes: count('Nodes whose agent reported a sample within staleAfterSeconds.').optional(),
    staleNodes: listSet(z.array(z.string().max(253)).max(MAX_STALE_NODES))
      .describe(`Names of stale nodes (at most ${MAX_STALE_NODES}; see staleNodeCount).`)
      .optional(),
    staleNodeCount: count('Number of stale nodes (exact, even when staleNodes is truncated).').optional(),
    backlogRecords: count('Records spooled but not yet forwarded, summed over nodes.').optional(),
    lastSampleTime: timestamp('Newest sample time reported by any agent.').optional(),
  })
  .describe('Observed state of the fleet, aggregated from agent heartbeats by the operator.');

/** `SensorFleet.status`. */
export type SensorFleetStatus = z.output<typeof SensorFleetStatusSchema>;

/** Validates a SensorFleet spec at the controller boundary and applies code-side defaults. */
export function parseSensorFleetSpec(spec: unknown): ParseResult<SensorFleetSpec> {
  return parseWith(SensorFleetSpecSchema, spec);
}

/**
 * Applies code-side defaults ({@link SensorFleetDefaults}) to an already-typed spec.
 * Throws a ZodError when the spec breaks a rule the types cannot express; use
 * {@link parseSensorFleetSpec} on untrusted input.
 */
export function withSensorFleetDefaults(spec: SensorFleetSpecInput): SensorFleetSpec {
  return SensorFleetSpecSchema.parse(spec);
}

/** The SensorFleet kind. */
export const SensorFleetKind = {
  kind: 'SensorFleet',
  plural: 'sensorfleets',
  singular: 'sensorfleet',
  shortNames: ['sfleet'],
  description:
    'A SensorFleet runs the edge-sensor agent on selected nodes: sensors (source, interval, filters), a durable local spool and a sink. ' +
    'The operator manages a DaemonSet and aggregates per-node heartbeats into nodes ready, reporting and stale, backlog and last sample.',
  spec: SensorFleetSpecSchema,
  status: SensorFleetStatusSchema,
  printerColumns: [
    { name: 'Desired', type: 'integer', jsonPath: '.status.desiredNodes', description: 'Nodes that should run an agent.' },
    { name: 'Nodes-Ready', type: 'integer', jsonPath: '.status.readyNodes', description: 'Nodes whose agent is ready.' },
    { name: 'Reporting', type: 'integer', jsonPath: '.status.reportingNodes', description: 'Nodes reporting samples.' },
    { name: 'Stale', type: 'integer', jsonPath: '.status.staleNodeCount', description: 'Stale nodes.' },
    { name: 'Backlog', type: 'integer', jsonPath: '.status.backlogRecords', description: 'Records not yet forwarded.', priority: 1 },
    { name: 'Last-Sample', type: 'date', jsonPath: '.status.lastSampleTime', description: 'Time since the newest sample.', priority: 1 },
  ],
} as const satisfies KindDefinition;

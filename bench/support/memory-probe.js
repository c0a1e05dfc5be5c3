/**
 * Preloaded into the operator (`NODE_OPTIONS=--import <this file>`) by
 * `bench/reconcile.ts --memory-probe`: on SIGUSR2 it prints one JSON line on stdout
 * (`event: memory_probe`) with `process.memoryUsage()` and V8's heap statistics, so
 * the benchmark can say how much of the RSS is V8 heap, V8's own malloc (compiler
 * zones), buffers, or none of these (native allocations, fragmentation).
 *
 * Plain JavaScript, not TypeScript: a `.ts` preload would load Node's type stripper
 * (~25-30 MiB resident) into the process whose memory it is there to measure.
 *
 * Limitations: one line per signal, under 4 KiB so it is written atomically and does
 * not interleave with pino's lines; adds a signal handler to the process, nothing else.
 */
import { getHeapStatistics } from 'node:v8';

process.on('SIGUSR2', () => {
  const usage = process.memoryUsage();
  const heap = getHeapStatistics();
  const line = {
    level: 'info',
    event: 'memory_probe',
    rss: usage.rss,
    heapTotal: usage.heapTotal,
    heapUsed: usage.heapUsed,
    external: usage.external,
    arrayBuffers: usage.arrayBuffers,
    totalPhysicalSize: heap.total_physical_size,
    mallocedMemory: heap.malloced_memory,
    peakMallocedMemory: heap.peak_malloced_memory,
    totalAvailableSize: heap.total_available_size,
    heapSizeLimit: heap.heap_size_limit,
    numberOfNativeContexts: heap.number_of_native_contexts,
  };
  process.stdout.write(`${JSON.stringify(line)}\n`);
});

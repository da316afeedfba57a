/**
 * Process metrics (CPU, memory, file descriptors), from prom-client's default collectors.
 *
 * Not `collectDefaultMetrics()`: several of its collectors misbehave under Bun 1.4.5, so only
 * the ones checked to work are installed. Measured and left out:
 * - process_heap_bytes reports VmData, which under Bun includes JavaScriptCore's address-space
 *   reservations (~6.4 GB for a 50 MB process);
 * - nodejs_heap_size_used_bytes: Bun refreshes process.memoryUsage().heapUsed only now and then
 *   (it stayed fixed while the heap grew by 40 MB), so it was seen above heap_size_total;
 * - nodejs_eventloop_lag_{min,max,mean,stddev,p50,p90,p99}_seconds: monitorEventLoopDelay did
 *   not see a 250 ms block of the event loop (max stayed ~7 ms); its 10 ms sampling timer would
 *   run for nothing;
 * - nodejs_active_{handles,requests,resources}: always empty under Bun;
 * - nodejs_heap_space_*: V8 heap spaces, zero or made up under JavaScriptCore;
 * - nodejs_gc_duration_seconds: no GC events are ever observed;
 * - nodejs_version_info: Bun's Node-compatibility version, not the runtime (warden_build_info
 *   names the real one).
 *
 * prom-client is pinned to an exact version, which keeps these module paths stable.
 *
 * @example
 * registerProcessMetrics(registry); // warden_process_cpu_seconds_total, warden_process_resident_memory_bytes, ...
 */
import { Registry, type Metric } from "prom-client";
import cpu from "prom-client/lib/metrics/processCpuTotal";
import startTime from "prom-client/lib/metrics/processStartTime";
import memory from "prom-client/lib/metrics/osMemoryHeap";
import openFds from "prom-client/lib/metrics/processOpenFileDescriptors";
import maxFds from "prom-client/lib/metrics/processMaxFileDescriptors";
import heap from "prom-client/lib/metrics/heapSizeAndUsed";

const PREFIX = "warden_";
/** Installed by the collectors above but wrong under Bun (see the file comment). */
const LEFT_OUT = new Set([`${PREFIX}process_heap_bytes`, `${PREFIX}nodejs_heap_size_used_bytes`]);

export function registerProcessMetrics(registry: Registry): void {
  // The collectors register into a scratch registry, and the ones that work move to ours. Each
  // group's shared collect() sits on its first metric, which is kept, so dropping is safe.
  const scratch = new Registry();
  for (const install of [cpu, startTime, memory, openFds, maxFds, heap]) install(scratch, { prefix: PREFIX });
  for (const metric of scratch.getMetricsAsArray() as unknown as (Metric & { name: string })[]) {
    if (!LEFT_OUT.has(metric.name)) registry.registerMetric(metric);
  }
}

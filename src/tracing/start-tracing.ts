import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import type { TracingSettings } from '../config/config';

/** Tracing started by {@link startTracing}. */
export interface Tracing {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>;
}

let active: { provider: NodeTracerProvider; users: number } | undefined;

/**
 * Registers the OpenTelemetry SDK for this process: spans exported in
 * batches over OTLP/HTTP to `settings.endpoint`, W3C trace context as the
 * propagator, async-hooks context. One registration per process; a second
 * start (several coordinators in one test process) shares it, and the last
 * shutdown ends it.
 */
export function startTracing(settings: TracingSettings): Tracing {
  if (!active) {
    const provider = new NodeTracerProvider({
      resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
      spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }), { scheduledDelayMillis: 1_000 })],
    });
    provider.register();
    active = { provider, users: 0 };
  }
  const mine = active;
  mine.users++;
  let done: Promise<void> | undefined;
  return {
    shutdown: () =>
      (done ??= (async () => {
        mine.users--;
        if (mine.users > 0) {
          await mine.provider.forceFlush();
          return;
        }
        if (active === mine) active = undefined;
        await mine.provider.shutdown();
      })()),
  };
}

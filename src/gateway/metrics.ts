// The gateway's Prometheus metrics, in a registry of its own (two gateways in one process, or a
// program that embeds one, never share or clash over prom-client's global registry).

import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { GatewayMetrics } from './context.ts';

export class PromMetrics implements GatewayMetrics {
  readonly registry = new Registry();
  private readonly _open = new Gauge({ name: 'podshell_web_sessions_open', help: 'Sessions open right now.', registers: [this.registry] });
  private readonly _opened = new Counter({ name: 'podshell_web_sessions_opened_total', help: 'Sessions opened.', registers: [this.registry] });
  private readonly _joins = new Counter({ name: 'podshell_web_joins_total', help: 'Clients that joined a session (first joins and rejoins).', registers: [this.registry] });
  private readonly _bytes = new Counter({
    name: 'podshell_web_stream_bytes_total',
    help: 'Bytes of session streams: in = client input toward the process, out = process output.',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  private readonly _upgradeFailures = new Counter({
    name: 'podshell_web_upgrade_failures_total',
    help: 'WebSocket upgrades refused, by reason.',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });
  private readonly _durations = new Histogram({
    name: 'podshell_web_session_duration_seconds',
    help: 'How long sessions lasted, from start to end.',
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600],
    registers: [this.registry],
  });

  constructor() {
    // Every series exists from the start, so a scrape shows it at 0.
    this._bytes.inc({ direction: 'in' }, 0);
    this._bytes.inc({ direction: 'out' }, 0);
  }

  sessionOpened(): void {
    this._open.inc();
    this._opened.inc();
  }

  sessionClosed(durationSeconds: number): void {
    this._open.dec();
    this._durations.observe(durationSeconds);
  }

  join(): void {
    this._joins.inc();
  }

  bytes(direction: 'in' | 'out', count: number): void {
    this._bytes.inc({ direction }, count);
  }

  upgradeFailed(reason: string): void {
    this._upgradeFailures.inc({ reason });
  }

  /** The text exposition format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

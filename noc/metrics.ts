// Prometheus exposition (text format 0.0.4) of the server itself: broker connections and
// messages, collector ingest (lag, backlog, store errors, spool), ticket outbox depth per sink,
// open incidents, HTTP requests and live clients; in cluster mode the state tier's reachability and
// the collector's partition ownership (owned partitions, lease renewals, failovers). Read from the components' stats() at scrape
// time, so nothing is counted twice and an idle server costs nothing.
import { partitionsOf, type NocContext } from './context.js';

type Sample = { labels?: Record<string, string>; value: number };
type Family = { name: string; help: string; type: 'gauge' | 'counter'; samples: Sample[] };

const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');

export function renderPrometheus(families: Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (!f.samples.length) continue;
    out.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels =
        s.labels && Object.keys(s.labels).length
          ? `{${Object.entries(s.labels)
              .map(([k, v]) => `${k}="${esc(v)}"`)
              .join(',')}}`
          : '';
      out.push(`${f.name}${labels} ${Number.isFinite(s.value) ? s.value : 0}`);
    }
  }
  return out.join('\n') + '\n';
}

/** HTTP request counts by route pattern and status class, kept by the NOC server. */
export class HttpMetrics {
  private readonly counts = new Map<string, number>();
  record(route: string, method: string, status: number): void {
    const key = `${method} ${route} ${Math.floor(status / 100)}xx`;
    this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
  }
  samples(): Sample[] {
    return [...this.counts].map(([k, value]) => {
      const [method, route, code] = k.split(' ');
      return { labels: { method, route, code }, value };
    });
  }
}

const one = (value: number, labels?: Record<string, string>): Sample[] => [{ value, ...(labels ? { labels } : {}) }];

export async function serverMetrics(ctx: NocContext, http: HttpMetrics): Promise<string> {
  const f: Family[] = [];
  const add = (name: string, type: Family['type'], help: string, samples: Sample[]) => f.push({ name: `fleetcare_${name}`, type, help, samples });
  const mem = process.memoryUsage();
  const cpu = process.cpuUsage();
  add('process_resident_memory_bytes', 'gauge', 'Resident set size of the server process.', one(mem.rss));
  add('process_cpu_seconds_total', 'counter', 'User and system CPU time of the server process.', one((cpu.user + cpu.system) / 1e6));
  add('uptime_seconds', 'gauge', 'Seconds since the NOC started.', one((Date.now() - ctx.startedAt) / 1000));

  if (ctx.broker) {
    const b = ctx.broker.stats();
    add(
      'broker_connections',
      'gauge',
      'Authenticated MQTT clients by kind.',
      Object.entries(b.clients).map(([kind, value]) => ({ labels: { kind }, value })),
    );
    add('broker_sockets', 'gauge', 'Open MQTT transport connections, authenticated or not.', one(b.sockets));
    add('broker_messages_in_total', 'counter', 'PUBLISH packets received by the broker.', one(b.messagesIn));
    add('broker_messages_out_total', 'counter', 'PUBLISH packets sent by the broker.', one(b.messagesOut));
    add('broker_bytes_in_total', 'counter', 'Bytes received by the broker.', one(b.bytesIn));
    add('broker_bytes_out_total', 'counter', 'Bytes sent by the broker.', one(b.bytesOut));
    add('broker_auth_failures_total', 'counter', 'Refused MQTT logins.', one(b.authFailures));
    add('broker_acl_denials_total', 'counter', 'Publishes or subscriptions refused by the ACL.', one(b.aclDenials));
    add('broker_rate_limited_total', 'counter', 'Publishes over a client rate limit.', one(b.rateLimited));
    add('broker_oversized_total', 'counter', 'Publishes over the payload limit, refused (client disconnected) and kept as dead letters.', one(b.oversized));
    add('broker_queue_depth', 'gauge', 'Publishes waiting in the broker queue.', one(b.mqQueued));
  }
  if (ctx.collector) {
    const c = ctx.collector.stats();
    add('collector_connected', 'gauge', '1 while the collector is connected to the broker.', one(c.mqtt.connected ? 1 : 0));
    add(
      'collector_messages_total',
      'counter',
      'Device messages that reached the collector, by channel.',
      Object.entries(c.byChannel).map(([channel, value]) => ({ labels: { channel }, value: value ?? 0 })),
    );
    add(
      'collector_rejected_total',
      'counter',
      'Device messages refused (dead-lettered), by reason.',
      Object.entries(c.rejected).map(([reason, value]) => ({ labels: { reason }, value: value ?? 0 })),
    );
    add('collector_acked_seqs_total', 'counter', 'Seqs acknowledged to agents.', one(c.acks.seqs));
    add('ingest_lag_seconds', 'gauge', 'Arrival to durable commit of the oldest record of the last batch.', one(c.lagMs / 1000));
    add('ingest_backlog_points', 'gauge', 'Points accepted and not yet written or spooled.', one(c.backlog));
    add('ingest_points_written_total', 'counter', 'Points written to the telemetry store.', one(c.ingest.written.points));
    add('ingest_duplicates_total', 'counter', 'Re-sent messages recognised as already stored.', one(c.ingest.duplicates));
    add(
      'ingest_clock_placed_total',
      'counter',
      'Messages with an implausible device time, stored at arrival time, by verdict.',
      Object.entries(c.ingest.clockPlaced).map(([verdict, value]) => ({ labels: { verdict }, value })),
    );
    add(
      'agent_reported_drops_total',
      'counter',
      'Points agents reported lost (outbox full, disk full, corrupt outbox, memory-only rows at a kill).',
      one(c.ingest.agentReportedDrops),
    );
    add(
      'store_errors_total',
      'counter',
      'Telemetry store write failures, by kind.',
      Object.entries(c.ingest.storeErrors).map(([failure, value]) => ({ labels: { failure }, value })),
    );
    add('spool_rows', 'gauge', 'Batches spooled locally while the store is unavailable.', one(c.ingest.spool.rows));
    add('spool_bytes', 'gauge', 'Bytes in the local spool.', one(c.ingest.spool.bytes));
    add('devices', 'gauge', 'Known devices by connectivity.', [
      { labels: { state: 'online' }, value: c.devices.online },
      { labels: { state: 'offline' }, value: c.devices.known - c.devices.online },
    ]);
  }
  const partitions = partitionsOf(ctx.collector);
  if (partitions) {
    const p = partitions.stats();
    const node = { node: partitions.nodeId };
    add('partitions', 'gauge', 'Partitions of the fleet (fixed at cluster creation).', one(partitions.count));
    add('partitions_owned', 'gauge', 'Partitions whose lease this collector node holds now.', one(p.owned.length, node));
    add(
      'partition_owned',
      'gauge',
      'Each partition this node owns (1 per owned partition).',
      p.owned.map((partition) => ({ labels: { ...node, partition: String(partition) }, value: 1 })),
    );
    add('partition_lease_renewals_total', 'counter', 'Lease renewals by this node.', one(p.renewals, node));
    add('partition_acquisitions_total', 'counter', 'Partitions this node took (free, or from a live owner at rebalance).', one(p.acquisitions, node));
    add('partition_failovers_total', 'counter', 'Partitions this node took over from an owner whose lease had expired.', one(p.failovers, node));
    add('partition_releases_total', 'counter', 'Partitions this node handed back.', one(p.releases, node));
    add('partition_lease_rounds_total', 'counter', 'Lease rounds (heartbeat, renew, rebalance, acquire).', one(p.rounds, node));
    add('partition_lease_round_errors_total', 'counter', 'Lease rounds that failed or did not finish within a lease.', one(p.roundErrors, node));
  }
  let stateUp = true;
  if (ctx.state) {
    stateUp = await ctx.state.check().then(
      () => true,
      () => false,
    );
    add(
      'state_up',
      'gauge',
      `1 while this node reaches the shared state tier (${ctx.state.kind}).`,
      one(stateUp ? 1 : 0, ctx.nodeId ? { node: ctx.nodeId } : undefined),
    );
  }
  if (ctx.incidents?.stats) {
    const s = ctx.incidents.stats();
    add(
      'ticket_outbox_pending',
      'gauge',
      'Ticket commands waiting to be sent, by sink.',
      Object.entries(s.sinks).map(([sink, v]) => ({ labels: { sink }, value: v.pending })),
    );
    add(
      'ticket_outbox_failed',
      'gauge',
      'Ticket commands given up on (4xx), by sink.',
      Object.entries(s.sinks).map(([sink, v]) => ({ labels: { sink }, value: v.failedRows })),
    );
    add('incident_ticks_total', 'counter', 'Detector evaluations.', one(s.ticks));
    add('incident_tick_errors_total', 'counter', 'Detector evaluations that failed.', one(s.tickErrors));
  }
  if (ctx.incidents && stateUp) {
    // Counted by the ticket store (all open tickets, not a page of them); left out while it is unreachable.
    const counts = await ctx.incidents.ticketState.openCounts().catch(() => null);
    if (counts) {
      const byPriority = new Map<string, number>(['Urgent', 'High', 'Medium', 'Low'].map((p) => [p, 0]));
      for (const c of counts) byPriority.set(c.priority, (byPriority.get(c.priority) ?? 0) + c.count);
      add(
        'open_tickets',
        'gauge',
        'Open tickets (not Resolved or Closed) by priority.',
        [...byPriority].map(([priority, value]) => ({ labels: { priority }, value })),
      );
    }
  }
  add('http_requests_total', 'counter', 'NOC HTTP requests by route, method and status class.', http.samples());
  add('live_clients', 'gauge', 'Connected live-update (SSE) clients.', one(ctx.live.size));
  add('live_replayed_total', 'counter', 'Ticket events sent to reconnecting live clients from the change feed (Last-Event-ID).', one(ctx.live.replayed));
  return renderPrometheus(f);
}

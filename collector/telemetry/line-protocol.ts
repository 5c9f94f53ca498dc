// InfluxDB 1.x line protocol for our three measurements. Written by hand rather than through
// node-influx's writePoints (measured ~2.5x cheaper here), so escaping lives here and is tested
// against a real influxd.
import { deviceTimeOf } from './clock-guard.js';
import { fieldName, type IngestRecord } from './store.js';

// Control characters cannot appear in keys or tag values at all; a backslash before a
// separator (or at the end) makes influxd 1.x refuse the line ("invalid tag format"), so it is
// replaced. Both are replaced rather than escaped: there is no escape that round-trips.
function clean(s: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is replaced
  return s.replace(/[\u0000-\u001f\u007f]/g, ' ').replace(/\\/g, '/');
}

// Ids, kinds and metric names are almost always plain: skip the regex work for them.
const PLAIN = /^[A-Za-z0-9._-]*$/;

export function escapeMeasurement(s: string): string {
  return clean(s).replace(/[, ]/g, (c) => '\\' + c);
}

/** Tag keys, tag values and field keys. */
export function escapeKey(s: string): string {
  if (PLAIN.test(s)) return s;
  return clean(s).replace(/[,= ]/g, (c) => '\\' + c);
}

/** A string field value, quoted. Newlines are allowed inside quotes. */
export function quoteString(s: string): string {
  return '"' + s.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}

function tagSet(tags: Array<[string, string | undefined]>): string {
  let out = '';
  // Keys are given in sorted order (influxd's preferred order, avoids a sort per point).
  for (const [k, v] of tags) if (v !== undefined && v !== '') out += ',' + k + '=' + escapeKey(v);
  return out;
}

/** `,key=value` for one tag, or '' when the value is absent or empty. */
function tag(k: string, v: string | undefined): string {
  return v === undefined || v === '' ? '' : ',' + k + '=' + escapeKey(v);
}

/**
 * Point identity (brief): ts_ms * 1e6 + (seq % 1000) * 1000 + index, in ns. Two messages never
 * overwrite each other; a re-write of the same message overwrites itself identically.
 */
export function pointTime(tsMs: number, seq: number, index: number): string {
  const offset = (seq % 1000) * 1000 + index;
  // Decimal concatenation instead of BigInt arithmetic (a hot path): for a safe non-negative
  // integer ms and 0 <= offset < 1e6, ms·1e6 + offset is ms's digits followed by offset in 6.
  if (tsMs > 0 && Number.isSafeInteger(tsMs) && offset >= 0 && offset < 1_000_000 && Number.isInteger(offset)) {
    return String(tsMs) + String(offset).padStart(6, '0');
  }
  return (BigInt(tsMs) * 1_000_000n + BigInt(offset)).toString();
}

/** Lines of one record, joined by '\n' (no trailing newline). */
export function recordLines(r: IngestRecord): string {
  const lines: string[] = [];
  const dev = escapeKey(r.device);
  if (r.channel === 'telemetry') {
    const m = r.message;
    // Same per device and batch for every sample: computed once.
    const site = tag('site', r.tags.site);
    const tenant = tag('tenant', r.tags.tenant);
    const seqField = ',seq=' + m.seq + 'i';
    // Placed at arrival (implausible device clock): the device's own time is kept as a field.
    const deviceTs = r.clock?.sampleDeviceTs;
    for (let i = 0; i < m.samples.length; i++) {
      const s = m.samples[i];
      // Sorted tag keys: device, kind, peripheral, site, tenant.
      let line = 'telemetry,device=' + dev + tag('kind', s.kind) + tag('peripheral', s.peripheral) + site + tenant + ' ';
      const counters = s.counters;
      for (const k in s.metrics) if (!Object.hasOwn(counters, k)) line += escapeKey(fieldName(k)) + '=' + floatValue(s.metrics[k]) + ',';
      for (const k in counters) line += escapeKey(fieldName(k)) + '=' + Math.trunc(counters[k]) + 'i,';
      line += 'faults=' + quoteString(s.faults.join(',')) + ',health=' + quoteString(s.health) + seqField;
      if (deviceTs) line += ',device_ts=' + Math.trunc(deviceTs[i]) + 'i';
      line += ' ' + pointTime(s.ts, m.seq, i);
      lines.push(line);
    }
  } else {
    const m = r.message;
    const tags = tagSet([
      ['code', m.code],
      ['device', r.device],
      ['peripheral', m.peripheral],
      ['site', r.tags.site],
      ['tenant', r.tags.tenant],
      ['type', m.type],
    ]);
    let fields = 'seq=' + m.seq + 'i,severity=' + quoteString(m.severity);
    if (m.message !== undefined) fields += ',message=' + quoteString(m.message);
    if (m.data !== undefined) fields += ',data=' + quoteString(JSON.stringify(m.data));
    if (r.clock) fields += ',device_ts=' + Math.trunc(r.clock.deviceTs) + 'i';
    lines.push('event' + tags + ' ' + fields + ' ' + pointTime(m.ts, m.seq, 0));
  }
  lines.push(
    // The offset is the device's real one (a placed message's ts is the arrival time).
    'device_clock,device=' +
      dev +
      ' offset_ms=' +
      floatValue(r.arrivedAt - deviceTimeOf(r)) +
      ',seq=' +
      r.message.seq +
      'i ' +
      pointTime(r.message.ts, r.message.seq, 0),
  );
  return lines.join('\n');
}

// A float field must not look like an integer with an `i` suffix; plain `3` is a float in line
// protocol, so String() is enough for finite numbers.
function floatValue(v: number): string {
  return String(v);
}

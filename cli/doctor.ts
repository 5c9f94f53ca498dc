// `fleetcare doctor`: checks what a server needs from its host and prints, for each problem, what
// is wrong and how to fix it: config, data dir, disk space, databases, ports, InfluxDB, TLS
// certificates, clock. Exit 1 when something would stop the server or lose data; warnings
// (exit 0) are things to fix soon. Safe while the server runs: it only reads.
import { accessSync, constants, existsSync, readFileSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { createServer } from 'node:net';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { brokerConfigSchema } from '../broker/config.js';
import { influxConfigSchema } from '../collector/config.js';
import { nocConfigSchema } from '../noc/config.js';
import { loadServerConfig, type ServerConfig } from './server-config.js';
import { runningServer } from './server-lock.js';

type Flags = Record<string, string | boolean | undefined>;

export type Finding = { level: 'ok' | 'warn' | 'fail'; check: string; message: string; fix?: string };

const DAY = 86_400_000;
const GB = 1024 ** 3;

/** The nearest existing dir at or above `p` (the data dir may not exist before the first start). */
function existingAncestor(p: string): string {
  let d = p;
  while (!existsSync(d) && dirname(d) !== d) d = dirname(d);
  return d;
}

function checkDataDir(dataDir: string, out: Finding[]): void {
  if (!existsSync(dataDir)) {
    const parent = existingAncestor(dataDir);
    try {
      accessSync(parent, constants.W_OK);
      out.push({ level: 'ok', check: 'data dir', message: `${dataDir} does not exist yet; the server creates it at start` });
    } catch {
      out.push({
        level: 'fail',
        check: 'data dir',
        message: `${dataDir} does not exist and ${parent} is not writable`,
        fix: `create it for the server's user: install -d -o fleetcare -g fleetcare ${dataDir} (or set dataDir)`,
      });
    }
    return;
  }
  try {
    accessSync(dataDir, constants.R_OK | constants.W_OK | constants.X_OK);
    out.push({ level: 'ok', check: 'data dir', message: `${dataDir} is writable` });
  } catch {
    out.push({
      level: 'fail',
      check: 'data dir',
      message: `${dataDir} is not writable by this user (uid ${process.getuid?.()})`,
      fix: `chown -R fleetcare:fleetcare ${dataDir} (run doctor as the server's user: sudo -u fleetcare fleetcare doctor …)`,
    });
  }
}

function checkDisk(dataDir: string, out: Finding[]): void {
  const at = existingAncestor(dataDir);
  const s = statfsSync(at);
  const free = s.bavail * s.bsize;
  const pct = (100 * s.bavail) / s.blocks;
  const what = `${pct.toFixed(1)} % free (${(free / GB).toFixed(1)} GB) on the file system of ${at}`;
  if (pct < 2 || free < 0.2 * GB)
    out.push({
      level: 'fail',
      check: 'disk',
      message: what,
      fix: 'free space now (old backups, logs: journalctl --vacuum-size=200M), or move dataDir to a larger disk; SQLite stops writing when the disk is full',
    });
  else if (pct < 10 || free < GB)
    out.push({
      level: 'warn',
      check: 'disk',
      message: what,
      fix: 'free space or grow the disk before it fills (embedded telemetry grows with the fleet; InfluxDB keeps it instead when configured)',
    });
  else out.push({ level: 'ok', check: 'disk', message: what });
}

function checkDatabases(dataDir: string, out: Finding[]): void {
  if (!existsSync(dataDir)) return;
  const files: string[] = [];
  const walk = (d: string) => {
    for (const n of readdirSync(d)) {
      const p = join(d, n);
      const st = statSync(p);
      if (st.isDirectory()) walk(p);
      else if (/\.(db|sqlite)$/.test(n)) files.push(p);
    }
  };
  walk(dataDir);
  for (const f of files) {
    // quick_check reads every page: skip the very large (embedded telemetry) ones.
    if (statSync(f).size > 256 * 1024 * 1024) {
      out.push({ level: 'ok', check: 'database', message: `${f}: large, not checked (sqlite3 ${f} 'PRAGMA quick_check' does it)` });
      continue;
    }
    try {
      const db = new Database(f, { readonly: true, fileMustExist: true, timeout: 5000 });
      try {
        const r = db.pragma('quick_check', { simple: true });
        if (r === 'ok') out.push({ level: 'ok', check: 'database', message: `${f}: ok` });
        else
          out.push({
            level: 'fail',
            check: 'database',
            message: `${f}: damaged (${String(r)})`,
            fix: 'stop the server and restore the last backup: fleetcare restore DIR',
          });
      } finally {
        db.close();
      }
    } catch (e) {
      out.push({
        level: 'fail',
        check: 'database',
        message: `${f}: cannot open (${(e as Error).message})`,
        fix: 'check its owner and mode; if it is damaged, restore the last backup: fleetcare restore DIR',
      });
    }
  }
}

/** Can this process listen on host:port? (what the server will try at start) */
function tryListen(host: string, port: number): Promise<NodeJS.ErrnoException | null> {
  return new Promise((done) => {
    const s = createServer();
    s.once('error', (e) => done(e as NodeJS.ErrnoException));
    s.listen({ host, port, exclusive: true }, () => s.close(() => done(null)));
  });
}

async function checkPorts(config: ServerConfig, serverRunning: boolean, out: Finding[]): Promise<void> {
  const ports: Array<{ host: string; port: number; what: string; key: string }> = [];
  const broker = brokerConfigSchema.safeParse({ ...config.broker, dataDir: join(config.dataDir, 'broker') });
  const noc = nocConfigSchema.safeParse(config.noc);
  if (config.role !== 'collector' && broker.success) {
    ports.push({ host: broker.data.host, port: broker.data.port, what: 'MQTT', key: 'broker.port' });
    if (broker.data.tlsCertPath) ports.push({ host: broker.data.host, port: broker.data.tlsPort, what: 'MQTT over TLS', key: 'broker.tlsPort' });
    if (broker.data.wsPort !== undefined) ports.push({ host: broker.data.host, port: broker.data.wsPort, what: 'MQTT over WebSocket', key: 'broker.wsPort' });
  }
  if (config.role !== 'broker' && noc.success && noc.data.enabled)
    ports.push({ host: noc.data.host, port: noc.data.port, what: 'NOC web page', key: 'noc.port' });
  for (const p of ports) {
    if (p.port === 0) continue;
    const where = `${p.host}:${p.port} (${p.what})`;
    const e = await tryListen(p.host, p.port);
    if (!e) out.push({ level: 'ok', check: 'port', message: `${where} is free` });
    else if (e.code === 'EADDRINUSE' && serverRunning) out.push({ level: 'ok', check: 'port', message: `${where} is in use by the running server` });
    else if (e.code === 'EADDRINUSE')
      out.push({
        level: 'fail',
        check: 'port',
        message: `${where} is used by another program`,
        fix: `see which: ss -ltnp 'sport = :${p.port}'; stop it or set ${p.key} to a free port`,
      });
    else if (e.code === 'EACCES')
      out.push({
        level: 'fail',
        check: 'port',
        message: `${where}: permission denied (ports below 1024 need a privilege)`,
        fix: `use a port ≥ 1024, or add AmbientCapabilities=CAP_NET_BIND_SERVICE to the unit`,
      });
    else if (e.code === 'EADDRNOTAVAIL')
      out.push({
        level: 'fail',
        check: 'port',
        message: `${where}: ${p.host} is not an address of this host`,
        fix: `set the host to one of this machine's addresses (ip -brief address) or 0.0.0.0`,
      });
    else out.push({ level: 'fail', check: 'port', message: `${where}: ${e.message}` });
  }
}

async function checkInflux(config: ServerConfig, out: Finding[]): Promise<number | null> {
  if (config.role === 'broker') return null;
  const raw = (config.collector as { influx?: unknown }).influx;
  if (raw === undefined) {
    out.push({ level: 'ok', check: 'influxdb', message: 'not configured: telemetry goes to the embedded store in the data dir' });
    return null;
  }
  const influx = influxConfigSchema.safeParse(raw);
  if (!influx.success) {
    out.push({
      level: 'fail',
      check: 'influxdb',
      message: `collector.influx: ${influx.error.issues[0]?.message}`,
      fix: 'fix collector.influx in the server config',
    });
    return null;
  }
  const url = influx.data.url.replace(/\/$/, '') + '/ping';
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
    if (res.status === 204 || res.ok) {
      out.push({ level: 'ok', check: 'influxdb', message: `${influx.data.url} answers (InfluxDB ${res.headers.get('x-influxdb-version') ?? '?'})` });
      const date = res.headers.get('date');
      return date ? Date.parse(date) : null;
    }
    out.push({
      level: 'fail',
      check: 'influxdb',
      message: `${url} answered HTTP ${res.status}`,
      fix: 'is this an InfluxDB 1.x HTTP API? check collector.influx.url',
    });
  } catch (e) {
    out.push({
      level: 'fail',
      check: 'influxdb',
      message: `${influx.data.url} is unreachable (${(e as Error).cause ? String(((e as Error).cause as Error).message ?? (e as Error).cause) : (e as Error).message})`,
      fix: 'start it (systemctl start influxdb) or fix collector.influx.url; meanwhile the collector spools telemetry on disk',
    });
  }
  return null;
}

function checkCertificates(config: ServerConfig, out: Finding[], now: number): void {
  const broker = brokerConfigSchema.safeParse({ ...config.broker, dataDir: join(config.dataDir, 'broker') });
  if (config.role === 'collector' || !broker.success) return;
  const { tlsCertPath, tlsKeyPath, host } = broker.data;
  const tls = (level: Finding['level'], message: string, fix?: string) => out.push({ level, check: 'tls', message, ...(fix ? { fix } : {}) });
  if (!tlsCertPath || !tlsKeyPath) {
    const loopback = host === '127.0.0.1' || host === '::1' || host === 'localhost';
    if (loopback) tls('ok', 'MQTT listens on loopback only; no TLS configured');
    else
      tls(
        'warn',
        `MQTT on ${host} without TLS: device tokens cross the network in clear`,
        'set broker.tlsCertPath and broker.tlsKeyPath (devices then use mqtts://host:8883)',
      );
    return;
  }
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(readFileSync(resolve(tlsCertPath)));
  } catch (e) {
    tls(
      'fail',
      `${tlsCertPath}: cannot read the certificate (${(e as Error).message})`,
      'check broker.tlsCertPath (a PEM file) and that the server user can read it',
    );
    return;
  }
  try {
    if (!cert.checkPrivateKey(createPrivateKey(readFileSync(resolve(tlsKeyPath)))))
      tls('fail', `${tlsKeyPath} is not the key of ${tlsCertPath}`, 'install the matching key and certificate pair');
  } catch (e) {
    tls(
      'fail',
      `${tlsKeyPath}: cannot read the key (${(e as Error).message})`,
      'check broker.tlsKeyPath and its permissions (readable by the server user only)',
    );
  }
  const until = Date.parse(cert.validTo);
  const days = Math.floor((until - now) / DAY);
  const what = `${tlsCertPath} (${cert.subject.replace(/\n/g, ', ')}) valid until ${new Date(until).toISOString().slice(0, 10)}`;
  if (until <= now)
    tls('fail', `${what}: EXPIRED — devices refuse to connect`, 'renew the certificate and restart the server (systemctl restart fleetcare-server)');
  else if (days < 30) tls('warn', `${what}: expires in ${days} day(s)`, 'renew it before it expires, then restart the server');
  else tls('ok', `${what} (${days} days left)`);
}

function checkClock(now: number, referenceMs: number | null, out: Finding[]): void {
  if (now < Date.UTC(2025, 0, 1)) {
    out.push({
      level: 'fail',
      check: 'clock',
      message: `the clock says ${new Date(now).toISOString()}`,
      fix: 'set the time and enable NTP: timedatectl set-ntp true',
    });
    return;
  }
  if (referenceMs !== null && Math.abs(now - referenceMs) > 5000)
    out.push({
      level: 'warn',
      check: 'clock',
      message: `this clock and InfluxDB's differ by ${Math.round((now - referenceMs) / 1000)} s`,
      fix: 'enable NTP on both hosts: timedatectl set-ntp true',
    });
  const t = spawnSync('timedatectl', ['show', '-p', 'NTPSynchronized', '--value'], { encoding: 'utf8', timeout: 3000 });
  if (t.status === 0 && t.stdout.trim() === 'yes') out.push({ level: 'ok', check: 'clock', message: 'synchronised by NTP' });
  else if (t.status === 0)
    out.push({
      level: 'warn',
      check: 'clock',
      message: 'not synchronised by NTP (SLA clocks and device clock offsets are measured against it)',
      fix: 'timedatectl set-ntp true (or install chrony)',
    });
  else out.push({ level: 'ok', check: 'clock', message: `${new Date(now).toISOString()} (NTP state unknown here: no timedatectl/systemd)` });
}

export async function runDoctor(flags: Flags): Promise<{ findings: Finding[]; dataDir: string | null }> {
  const out: Finding[] = [];
  let config: ServerConfig;
  try {
    config = loadServerConfig(flags);
  } catch (e) {
    out.push({ level: 'fail', check: 'config', message: (e as Error).message, fix: 'fix the named field in the server config' });
    return { findings: out, dataDir: null };
  }
  out.push({ level: 'ok', check: 'config', message: typeof flags.config === 'string' ? `${flags.config} is valid` : 'no config file: defaults and flags' });
  const running = runningServer(config.dataDir);
  out.push({
    level: 'ok',
    check: 'server',
    message: running ? `running (pid ${running.pid}, since ${new Date(running.startedAt).toISOString()})` : 'not running on this data dir',
  });
  checkDataDir(config.dataDir, out);
  checkDisk(config.dataDir, out);
  checkDatabases(config.dataDir, out);
  await checkPorts(config, !!running, out);
  const now = Date.now();
  const influxDate = await checkInflux(config, out);
  checkCertificates(config, out, now);
  checkClock(now, influxDate, out);
  return { findings: out, dataDir: config.dataDir };
}

export async function doctorCommand(flags: Flags): Promise<void> {
  const { findings, dataDir } = await runDoctor(flags);
  if (flags.json) process.stdout.write(JSON.stringify(findings, null, 2) + '\n');
  else {
    process.stdout.write(`fleetcare doctor${dataDir ? ` — data dir ${dataDir}` : ''}\n`);
    for (const f of findings) {
      process.stdout.write(`  ${{ ok: 'ok  ', warn: 'WARN', fail: 'FAIL' }[f.level]}  ${f.check.padEnd(9)} ${f.message}\n`);
      if (f.fix && f.level !== 'ok') process.stdout.write(`        ${''.padEnd(9)} fix: ${f.fix}\n`);
    }
    const fails = findings.filter((f) => f.level === 'fail').length;
    const warns = findings.filter((f) => f.level === 'warn').length;
    process.stdout.write(fails || warns ? `${fails} problem(s), ${warns} warning(s)\n` : 'all good\n');
  }
  if (findings.some((f) => f.level === 'fail')) process.exitCode = 1;
}

#!/usr/bin/env node
// The `fleetcare` command. Each subcommand imports only what it needs, so `fleetcare agent`
// loads agent code alone (no aedes, no influx) and stays small on the store device.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, UsageError } from './errors.js';

type Command = {
  summary: string;
  usage: string;
  options: NonNullable<ParseArgsConfig['options']>;
  run(values: Record<string, string | boolean | undefined>, positionals: string[]): Promise<void>;
};

const common = {
  'log-level': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const serverOptions = {
  config: { type: 'string', short: 'c' },
  'data-dir': { type: 'string' },
  host: { type: 'string' },
  port: { type: 'string' },
  'tls-port': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'influx-url': { type: 'string' },
  'influx-db': { type: 'string' },
  role: { type: 'string' },
  'broker-url': { type: 'string' },
  'collector-user': { type: 'string' },
  'collector-token': { type: 'string' },
  'allow-anonymous': { type: 'boolean' },
  'http-host': { type: 'string' },
  'http-port': { type: 'string' },
  'no-http': { type: 'boolean' },
} as const;

const commands: Record<string, Command> = {
  server: {
    summary: 'run the broker and the collector (one process by default)',
    usage: `fleetcare server [options]
  -c, --config FILE        server config file (JSON); flags override it
  --cluster FILE           the same file for a cluster node: it must have a "cluster" part
                           (nodeId, roles broker|collector|noc) and state.kind postgres (docs/cluster.md)
  --data-dir DIR           registry, collector state and embedded store (default ./data)
  --host ADDR              MQTT listen address (default 127.0.0.1)
  --port N                 MQTT TCP port (default 1883)
  --tls-port N --tls-cert FILE --tls-key FILE   MQTT over TLS
  --influx-url URL         InfluxDB 1.x (e.g. http://127.0.0.1:8086); without it the
                           embedded SQLite telemetry store is used
  --influx-db NAME         InfluxDB database (default fleetcare)
  --role all|broker|collector   what this process runs (default all)
  --broker-url URL         collector role only: broker to connect to
  --collector-user NAME --collector-token T   collector role only: its service account
  --allow-anonymous        lab only: accept clients without credentials
  --http-host ADDR         NOC web page and API address (default 127.0.0.1)
  --http-port N            NOC web page and API port (default 8080)
  --no-http                do not serve the NOC
  --log-level LEVEL        trace|debug|info|warn|error (default info)
fleetcare server install [--config FILE] [--root DIR] [--no-start]
  systemd unit fleetcare-server.service running this fleetcare tree as user fleetcare (restart
  always, ProtectSystem=strict, NoNewPrivileges), config /etc/fleetcare/server.json, data
  /var/lib/fleetcare; --root DIR stages the files under DIR (docs/operations.md)
fleetcare server uninstall [--root DIR]     removes the unit; config and data are kept`,
    options: { ...serverOptions, cluster: { type: 'string' }, root: { type: 'string' }, 'no-start': { type: 'boolean' } },
    async run(values, positionals) {
      if (positionals.length) {
        const { installServer, uninstallServer } = await import('../install/server.js');
        const { InstallError } = await import('../install/payload.js');
        const root = typeof values.root === 'string' ? values.root : undefined;
        try {
          if (positionals[0] === 'install')
            for (const s of installServer({ root, config: values.config as string | undefined, start: !values['no-start'] }).steps) console.log(`  ${s}`);
          else if (positionals[0] === 'uninstall') for (const s of uninstallServer({ root }).steps) console.log(`  ${s}`);
          else throw new UsageError(`server: unknown action "${positionals[0]}" (install, uninstall; or no action to run the server)`);
        } catch (e) {
          if (e instanceof InstallError) throw new ConfigError(e.message);
          throw e;
        }
        return;
      }
      const { runServer } = await import('./server.js');
      const { loadServerConfig } = await import('./server-config.js');
      (await import('./server-heap.js')).tuneServerHeap();
      const config = loadServerConfig(values);
      const server = await runServer(config);
      onSignals((sig) => server.close(`signal ${sig}`));
    },
  },
  agent: {
    summary: 'run the device agent | install | uninstall (systemd service on a store device)',
    usage: `fleetcare agent --config FILE
  -c, --config FILE        agent config file (JSON); see README "Agent configuration"
  --log-level LEVEL        overrides the config's log level
fleetcare agent install [--config FILE] [--root DIR] [--no-start]
fleetcare agent uninstall [--root DIR] [--purge]
  (the same as install.sh of the package built by \`npm run package:agent\`; docs/operations.md)
  install puts the agent in /opt/fleetcare-agent, FILE in /etc/fleetcare/agent.json (mode 640) and
  the unit fleetcare-agent.service (user fleetcare-agent, groups dialout and lp, restart always,
  ProtectSystem=strict, NoNewPrivileges); on / it creates the user and (re)starts the service.
  Again over an installed agent: upgrade (config and data kept; --config replaces the config).
  --root DIR               install under DIR instead of / (staging, images); nothing is started
  --purge                  uninstall: also remove the config and the agent's data (its outbox)`,
    options: { config: { type: 'string', short: 'c' }, root: { type: 'string' }, 'no-start': { type: 'boolean' }, purge: { type: 'boolean' } },
    async run(values, positionals) {
      if (positionals.length) {
        const { agentInstallCommand } = await import('../install/cli.js');
        const { InstallError } = await import('../install/payload.js');
        try {
          for (const s of agentInstallCommand(positionals[0], values as Record<string, never>)) console.log(`  ${s}`);
        } catch (e) {
          if (e instanceof InstallError) throw new ConfigError(e.message);
          throw e;
        }
        return;
      }
      if (typeof values.config !== 'string') throw new UsageError('agent needs --config FILE');
      const { runAgentMain } = await import('../agent/main.js');
      await runAgentMain(values.config, typeof values['log-level'] === 'string' ? values['log-level'] : undefined);
    },
  },
  device: {
    summary: 'provision devices: add ID | list | remove ID | rotate ID | disable ID | enable ID',
    usage: `fleetcare device add ID [--site S] [--tenant T] [--data-dir DIR]
                    [--write-config FILE --broker-url URL]
    prints the device token once (it is stored hashed); --write-config writes a ready agent
    config for that device
fleetcare device list [--data-dir DIR] [--json]
fleetcare device rotate ID [--data-dir DIR]     new token, the old one stops working
fleetcare device remove ID [--data-dir DIR]
fleetcare device disable ID | enable ID [--data-dir DIR]
    rotate, remove and disable close the device's live sessions on the running broker(s)
    within broker.registryPollMs and drop its persistent session
  -c, --config FILE        server config: its data dir, or in a cluster (state.kind postgres)
                           the shared registry in PostgreSQL that every broker node checks`,
    options: {
      'data-dir': { type: 'string' },
      config: { type: 'string', short: 'c' },
      site: { type: 'string' },
      tenant: { type: 'string' },
      'write-config': { type: 'string' },
      'broker-url': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { deviceCommand } = await import('./provision.js');
      await deviceCommand(positionals, values);
    },
  },
  service: {
    summary: 'service accounts: add NAME | rotate NAME | remove NAME; service records: record DEVICE PERIPHERAL PART | history [DEVICE]',
    usage: `fleetcare service add NAME --role collector|viewer [--data-dir DIR]
fleetcare service rotate NAME --role collector|viewer [--data-dir DIR]
    prints the account's token once
fleetcare service remove NAME [--data-dir DIR]
fleetcare service record DEVICE PERIPHERAL PART [--date YYYY-MM-DD] [--kind part-replaced|preventive|unit-swap] [--not-failed] [--serial S] [--ticket REF] [--note TEXT]
    a part replaced (e.g. pos-12 printer0 cutter): the detectors re-base its wear and error
    rate at the server's next tick, and a failed part's life feeds the fleet life fit
fleetcare service history [DEVICE] [--json]
  -c, --config FILE        server config: its data dir, or in a cluster (state.kind postgres)
                           the shared registry (add, rotate, remove) and records (record, history)`,
    options: {
      'data-dir': { type: 'string' },
      role: { type: 'string' },
      config: { type: 'string', short: 'c' },
      date: { type: 'string' },
      kind: { type: 'string' },
      'not-failed': { type: 'boolean' },
      serial: { type: 'string' },
      ticket: { type: 'string' },
      note: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      if (positionals[0] === 'record' || positionals[0] === 'history') {
        const { serviceRecordCommand } = await import('./service.js');
        return serviceRecordCommand(positionals, values);
      }
      const { serviceCommand } = await import('./provision.js');
      await serviceCommand(positionals, values);
    },
  },
  cluster: {
    summary: 'cluster mode: status (nodes, partitions, leases) | local (a loopback cluster)',
    usage: `fleetcare cluster status [--state postgres://… | -c FILE] [--json]
  reads the cluster's PostgreSQL (cluster_nodes, partition_leases): every node with its last
  heartbeat, the partitions each owns, lease time left, epochs (takeovers); read-only
  --state URL              the cluster's PostgreSQL
  -c, --config FILE        a node's server config (its state.url)
fleetcare cluster local [--devices N] [--brokers N] [--collectors N] [--nocs N] [--colocate] [--dir DIR]
  (npm run cluster) a cluster on loopback until Ctrl-C: PostgreSQL, Redis and InfluxDB on temp
  dirs and free ports, 3 broker, 2 collector and 2 NOC nodes (fleetcare server --cluster) and a
  simulated fleet of N devices (default 6); prints the NOC addresses and the login
  --colocate                 each collector runs inside a broker node (roles broker + collector:
                             fewer processes, the collector reaches its broker in memory)`,
    options: {
      state: { type: 'string' },
      config: { type: 'string', short: 'c' },
      json: { type: 'boolean' },
      devices: { type: 'string' },
      brokers: { type: 'string' },
      collectors: { type: 'string' },
      nocs: { type: 'string' },
      seed: { type: 'string' },
      'interval-ms': { type: 'string' },
      dir: { type: 'string' },
      colocate: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { clusterCommand } = await import('./cluster.js');
      const running = await clusterCommand(positionals, values);
      if (running) onSignals(() => running.close());
    },
  },
  migrate: {
    summary: "moves a single-node installation's state into PostgreSQL (cluster mode)",
    usage: `fleetcare migrate --from-sqlite DIR --to postgres://user[:password]@host:port/database
  --from-sqlite DIR        the single-node server's data dir (only read; stop that server first)
  --to URL                 an empty PostgreSQL database; its schema is created or upgraded
  --partitions N           the cluster's cluster.partitions (default 64): open incidents and
                           detector state are filed under their device's partition
Refuses, copying nothing, when a file's schema is not this version's or the target holds state.`,
    options: {
      'from-sqlite': { type: 'string' },
      to: { type: 'string' },
      partitions: { type: 'string' },
    },
    async run(values) {
      const { migrateCommand } = await import('./migrate.js');
      await migrateCommand(values);
    },
  },
  user: {
    summary: 'NOC users: add NAME --role R | passwd NAME | role NAME --role R | remove NAME | token NAME | list',
    usage: `fleetcare user add NAME --role viewer|operator|admin [--password-file FILE|-]
    the password (at least 10 characters) is read from FILE, or from stdin
fleetcare user passwd NAME [--password-file FILE|-]     ends the user's sessions
fleetcare user role NAME --role viewer|operator|admin
fleetcare user remove NAME
fleetcare user token NAME [--token-name LABEL]     prints an API token once (Bearer)
fleetcare user list [--json]
  -c, --config FILE        server config (for its dataDir)
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      role: { type: 'string' },
      'password-file': { type: 'string' },
      'token-name': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { userCommand } = await import('./users.js');
      await userCommand(positionals, values);
    },
  },
  tickets: {
    summary: 'tickets: list | ack | comment | hold | reopen | resolve | close',
    usage: `fleetcare tickets list [--open] [--status S] [--customer C] [--site S] [--device D] [--json]
fleetcare tickets ack REF [--comment TEXT]        status Replied (first response)
fleetcare tickets comment REF TEXT
fleetcare tickets hold REF [--comment TEXT]       status On Hold (pauses the SLA)
fleetcare tickets reopen REF [--comment TEXT]     status Open again (also: back from On Hold)
fleetcare tickets resolve REF [--comment TEXT]    status Resolved
fleetcare tickets close REF [--comment TEXT]      status Closed (TEXT = resolution)
  -c, --config FILE        server config (its collector.incidents.tickets sinks get the change too)
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      status: { type: 'string' },
      open: { type: 'boolean' },
      customer: { type: 'string' },
      site: { type: 'string' },
      device: { type: 'string' },
      comment: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { ticketsCommand } = await import('./tickets.js');
      await ticketsCommand(positionals, values);
    },
  },
  team: {
    summary: 'dispatch teams: add | list | remove',
    usage: `fleetcare team add ID [--name N] [--sites S1,S2] [--tenants T1,T2] [--skills printer,clock] [--calendar FILE] [--replace]
    a team covers its sites and tenants (none = any) for its skills (device kinds; none = all),
    on shift by its working-hours calendar (collector/sla calendar JSON; none = always)
fleetcare team list [--json]
fleetcare team remove ID                 (only without technicians)
  -c, --config FILE        server config
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      name: { type: 'string' },
      sites: { type: 'string' },
      tenants: { type: 'string' },
      skills: { type: 'string' },
      calendar: { type: 'string' },
      replace: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { teamCommand } = await import('./dispatch.js');
      await teamCommand(positionals, values);
    },
  },
  technician: {
    summary: "technicians: add | list | remove (a removed technician's tickets go back to the rules)",
    usage: `fleetcare technician add ID --team TEAM [--name N] [--email E] [--lead] [--noc-user U] [--replace]
fleetcare technician list [--json]
fleetcare technician remove ID           their open tickets are dispatched again by the rules
  -c, --config FILE        server config (its ticket sinks get the changes too)
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      name: { type: 'string' },
      team: { type: 'string' },
      email: { type: 'string' },
      lead: { type: 'boolean' },
      'noc-user': { type: 'string' },
      replace: { type: 'boolean' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { technicianCommand } = await import('./dispatch.js');
      await technicianCommand(positionals, values);
    },
  },
  dispatch: {
    summary: 'dispatch: assign REF TECH | board | run | report',
    usage: `fleetcare dispatch assign REF TECHNICIAN    assign by hand ("rules": back to the dispatch rules)
fleetcare dispatch board [--json]           open tickets with their technician (and the unassigned)
fleetcare dispatch run                      one dispatch and escalation pass now
fleetcare dispatch report [--days N] [--json]   team performance (CSV unless --json), default 30 days
  -c, --config FILE        server config (its ticket sinks get the changes too)
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      days: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { dispatchCommand } = await import('./dispatch.js');
      await dispatchCommand(positionals, values);
    },
  },
  reliability: {
    summary: 'fleet life fit (Weibull with censoring) per model and part',
    usage: `fleetcare reliability [--json]
  the lives the fleet's parts reached (service records) and the parts in service (censored),
  fitted per model and part; the wear-out detector uses a fit once it has enough failures
  -c, --config FILE        server config
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values) {
      const { reliabilityCommand } = await import('./service.js');
      await reliabilityCommand(values);
    },
  },
  parts: {
    summary: 'spare parts: forecast (parts needed per tenant and site in 30/60/90 days)',
    usage: `fleetcare parts forecast [--horizon 30|60|90] [--tenant T] [--json]
    parts needed per tenant and site: open wear tickets and wear ETAs inside the horizon
    (default 30 days), with part number (or "unknown"), name and total swap time
  -c, --config FILE        server config (its dataDir, profilesDir and detector settings)
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      horizon: { type: 'string' },
      tenant: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { partsCommand } = await import('./parts.js');
      await partsCommand(positionals, values);
    },
  },
  warranty: {
    summary: 'warranty registry: import FILE | list',
    usage: `fleetcare warranty import FILE [--format csv|json] [--atomic]
    serial_no, item_code, kind (device|peripheral), customer, device_id, delivery_date,
    warranty_expiry_date, amc_expiry_date (YYYY-MM-DD); bad rows are reported by line and
    skipped (--atomic: any bad row imports nothing)
fleetcare warranty list [--customer C] [--json]
  -c, --config FILE        server config
  --data-dir DIR           the server's data dir (default ./data)`,
    options: {
      config: { type: 'string', short: 'c' },
      'data-dir': { type: 'string' },
      format: { type: 'string' },
      atomic: { type: 'boolean' },
      customer: { type: 'string' },
      json: { type: 'boolean' },
    },
    async run(values, positionals) {
      const { warrantyCommand } = await import('./tickets.js');
      await warrantyCommand(positionals, values);
    },
  },
  doctor: {
    summary: 'check the server host: config, data dir, disk, databases, ports, InfluxDB, certificates, clock',
    usage: `fleetcare doctor [-c FILE] [--data-dir DIR] [--json]
  prints each check (ok / WARN / FAIL) and, for each problem, how to fix it; exit 1 on a FAIL.
  Read-only: safe while the server runs (run it as the server's user to check its permissions).
  -c, --config FILE        the server config (default: flags and defaults, like fleetcare server)
  --data-dir DIR --port N --http-port N --influx-url URL   as for fleetcare server`,
    options: { ...serverOptions, json: { type: 'boolean' } },
    async run(values) {
      const { doctorCommand } = await import('./doctor.js');
      await doctorCommand(values);
    },
  },
  backup: {
    summary: 'back up the server state (every database of the data dir) into DIR, while it runs',
    usage: `fleetcare backup DIR [-c FILE] [--data-dir DIR]
  DIR must be new or empty. SQLite databases (registry, incidents and tickets, warranty, NOC users,
  collector state, embedded telemetry) are copied with SQLite's online backup API: consistent
  while the server writes; other files are copied; a manifest with checksums is written.`,
    options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' } },
    async run(values, positionals) {
      const { backupCommand } = await import('./backup.js');
      await backupCommand(positionals, values);
    },
  },
  restore: {
    summary: 'restore the server state from a backup DIR (server stopped)',
    usage: `fleetcare restore DIR [-c FILE] [--data-dir DIR]
  refuses while the server runs on that data dir (its lock, or its ports answering); checks the
  backup's checksums, moves the current data dir aside (DATADIR.before-restore-TIME), copies the
  backup in and checks every database's integrity. Start the server afterwards.`,
    options: { config: { type: 'string', short: 'c' }, 'data-dir': { type: 'string' }, port: { type: 'string' }, 'http-port': { type: 'string' } },
    async run(values, positionals) {
      const { restoreCommand } = await import('./backup.js');
      await restoreCommand(positionals, values);
    },
  },
  sim: {
    summary: 'simulate N devices (agent + virtual printer on a PTY each) against a broker',
    usage: `fleetcare sim --devices N --broker-url URL [--data-dir DIR] [--seed S]
  provisions the simulated devices in the registry under --data-dir (the server's data dir)
  --devices N              how many devices (default 3)
  --broker-url URL         broker to connect to (default mqtt://127.0.0.1:1883)
  --data-dir DIR           the server's data dir (registry), default ./data
  --seed S                 seed of the fleet's models, ages and usage (default 1)
  --interval-ms N          poll interval of every peripheral (default 5000)`,
    options: {
      devices: { type: 'string' },
      'broker-url': { type: 'string' },
      'data-dir': { type: 'string' },
      seed: { type: 'string' },
      'interval-ms': { type: 'string' },
    },
    async run(values) {
      const { runSimCommand } = await import('./sim.js');
      const fleet = await runSimCommand(values);
      onSignals(() => fleet.close());
    },
  },
  demo: {
    summary: 'server + a simulated fleet in one process, with a scripted timeline (see docs/operations.md)',
    usage: `fleetcare demo [--scenario showcase|quiet] [--devices N] [--port N] [--data-dir DIR] [--influx-url URL]
  --scenario S             showcase (default): SLAs with the working calendars of the stores'
                           countries, ticket languages (fa Tehran, ar Riyadh, zh Shenzhen), warranty
                           records, 90 days of history, and a timeline: a predictive wear ticket,
                           paper out at 00:10, a cutter jam at 00:20 that clears;
                           quiet: the simulated fleet alone
  --devices N              simulated devices (default 8; showcase needs 3)
  --port N                 MQTT port (default 1883)
  --data-dir DIR           default ./data/demo
  --influx-url URL         write telemetry to this InfluxDB instead of the embedded store
  --http-port N            NOC web page (default 8080); users admin, operator, viewer with
                           password fleetcare-demo (or $FLEETCARE_DEMO_PASSWORD)
  --log-format pretty|json readable lines on a terminal (default there), JSON otherwise
  --log-level LEVEL        default warn with pretty, info with json
  --seed S                 fleet seed (default 1)
  --interval-ms N          poll interval (default 5000)`,
    options: {
      devices: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'influx-url': { type: 'string' },
      'http-port': { type: 'string' },
      'http-host': { type: 'string' },
      seed: { type: 'string' },
      'interval-ms': { type: 'string' },
      scenario: { type: 'string' },
      'log-format': { type: 'string' },
    },
    async run(values) {
      const { runDemo } = await import('./sim.js');
      const demo = await runDemo(values);
      onSignals(() => demo.close());
    },
  },
};

function onSignals(stop: (sig: string) => Promise<void>): void {
  let stopping = false;
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (stopping) process.exit(1);
      stopping = true;
      stop(sig).then(
        () => process.exit(0),
        (e) => {
          console.error(`fleetcare: error while stopping: ${(e as Error).message}`);
          process.exit(1);
        },
      );
    });
  }
}

function mainHelp(): string {
  const lines = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(8)} ${c.summary}`);
  return `fleetcare — remote health monitoring and after-sales tickets for POS fleets

usage: fleetcare <command> [options]     (fleetcare <command> --help for its options)

${lines.join('\n')}`;
}

async function main(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return;
  }
  const cmd = commands[name];
  if (!cmd) throw new UsageError(`unknown command "${name}"\n\n${mainHelp()}`);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...common, ...cmd.options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\nusage: ${cmd.usage}`);
  }
  if (parsed.values.help) {
    console.log(`usage: ${cmd.usage}`);
    return;
  }
  await cmd.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
}

main(process.argv.slice(2)).catch((e: unknown) => {
  // Config and usage errors are the user's to fix: one clear line, no stack.
  const err = e as Error & { code?: string };
  console.error(`fleetcare: ${err.message}`);
  if (!(e instanceof UsageError) && err.name !== 'ConfigError' && process.env.FLEETCARE_DEBUG) console.error(err.stack);
  process.exit(e instanceof UsageError ? 64 : 1);
});

// The TelemetryStore contract over InfluxStore on a real influxd (one server for the file, a
// fresh database per test). The outage is a real one: influxd is killed and started again.
import { InfluxStore, influxConfigSchema } from '../../collector/index.js';
import { Influxd } from '../helpers/influxd.js';
import { silentLog } from '../helpers/log.js';
import { telemetryStoreSuite } from './telemetry-store-suite.js';

let influxd: Influxd;
let n = 0;

telemetryStoreSuite(
  'influx',
  async () => {
    const store = new InfluxStore(influxConfigSchema.parse({ url: influxd.url, database: `fc_contract_${++n}`, timeoutMs: 2000 }), silentLog());
    return { store, outage: { begin: () => influxd.stop(), end: () => influxd.start() }, cleanup: async () => {} };
  },
  {
    before: async () => {
      influxd = await Influxd.create();
    },
    after: async () => {
      await influxd.destroy();
    },
  },
);

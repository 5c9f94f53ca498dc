// A real InfluxDB 1.x for tests: the local cluster's launcher (cluster/local-influxd.ts).
export { Influxd, INFLUXD, haveInfluxd } from '../../cluster/local-influxd.js';

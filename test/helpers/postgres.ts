// A real PostgreSQL for tests: the local cluster's launcher (cluster/local-postgres.ts).
export { LocalPostgres as TestPostgres, postgresBin, havePostgres, type PostgresOptions } from '../../cluster/local-postgres.js';

// A real Redis for tests: the local cluster's launcher (cluster/local-redis.ts).
export { RedisServer, REDIS_SERVER, haveRedis } from '../../cluster/local-redis.js';

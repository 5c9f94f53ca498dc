// Moved to logging/ so the agent can use it too; kept here so collector imports stay stable.
export { LogLimiter } from '../logging/log-limiter.js';

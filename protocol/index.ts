// The only module the agent, broker and collector share.
export * from './messages.js';
export * from './topics.js';
export * from './decode.js';
export * from './errors.js';

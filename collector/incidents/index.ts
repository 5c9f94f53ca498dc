export * from './store.js';
export * from './maintenance.js';
export * from './pipeline.js';

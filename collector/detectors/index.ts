export * from './types.js';
export * from './stats.js';
export * from './wear.js';
export * from './degradation.js';
export * from './engine.js';
export * from './sequential.js';
export * from './measurement-time.js';

export * from './schema.js';
export { ZoneClock, isValidTimeZone, type LocalDate } from './zoned.js';
export { addWorkingTime, addWorkingTimeExcluding, workingIntervals, workingSecondsBetween, type Interval } from './working-time.js';
export { slaDeadlines, type SlaDeadlines } from './deadlines.js';
export { effectivePriority, priorityPolicyOf, type PriorityPolicy } from './priority.js';

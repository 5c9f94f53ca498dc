export * from './schema.js';
export { localDate, warrantyStatus, warrantyClaimFor } from './status.js';
export { formatImportError, parseCsvRows, parseSerialCsv, parseSerialJson, parseSerials, type ImportError, type ImportResult } from './import.js';
export { WarrantyRegistry, type SerialFilter } from './registry.js';

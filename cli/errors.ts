import { FleetcareError } from '../protocol/errors.js';

/** A mistake in how the command was called: one line to the user, exit code 64. */
export class UsageError extends FleetcareError<'usage'> {
  override name = 'UsageError';
  constructor(message: string) {
    super('usage', message);
  }
}

/** A config file or flag value that fails validation; the message names the field. */
export class ConfigError extends FleetcareError<'config-invalid'> {
  override name = 'ConfigError';
  constructor(message: string) {
    super('config-invalid', message);
  }
}

/** A mistake in how the command was called: one line to the user, exit code 64. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** A config file or flag value that fails validation; the message names the field. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

// `noc` part of the server config: where the web page and HTTP API listen and how logins work.
import { z } from 'zod';
import { nocRole, userName } from './api.js';

export const nocConfigSchema = z.object({
  enabled: z.boolean().default(true),
  /** Loopback by default: put a TLS reverse proxy in front to expose it. */
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(8080),
  sessionTtlHours: z
    .number()
    .positive()
    .max(24 * 30)
    .default(12),
  /** Set the cookie's Secure flag (behind an HTTPS proxy). */
  secureCookies: z.boolean().default(false),
  /** Failed logins allowed per user name per minute (per client address: 5 times as many). */
  loginAttemptsPerMinute: z.number().int().positive().default(10),
  /** GET /metrics without login (Prometheus scrapers); false: needs an API token of any role. */
  publicMetrics: z.boolean().default(true),
  /**
   * Users created at start when missing (demo and first start). The password is read from the
   * environment variable named by `passwordEnv`, so no secret lives in the config file.
   */
  bootstrapUsers: z.array(z.object({ name: userName, role: nocRole, passwordEnv: z.string().min(1) })).default([]),
  /** Time a remote command may take before it is reported expired. */
  commandTimeoutMs: z.number().int().positive().max(300_000).default(30_000),
});
export type NocConfig = z.infer<typeof nocConfigSchema>;
export type NocConfigInput = z.input<typeof nocConfigSchema>;

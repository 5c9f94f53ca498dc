// The NOC's HTTP contract: users and roles, request bodies and the shapes of the answers. The
// server validates every request against these schemas and the web page (noc/ui) imports the
// inferred types, so the two cannot drift apart. The route list is in docs/noc-api.md.
import { z } from 'zod';

export const nocRoles = ['viewer', 'operator', 'admin'] as const;
export const nocRole = z.enum(nocRoles);
export type NocRole = z.infer<typeof nocRole>;
/** viewer < operator < admin: a route open to `operator` is open to `admin`. */
export const roleRank: Record<NocRole, number> = { viewer: 0, operator: 1, admin: 2 };

export const userName = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_.@-]+$/, 'letters, digits and _ . @ - only');
export const password = z.string().min(10, 'at least 10 characters').max(200);

export const nocUser = z.object({ name: userName, role: nocRole });
export type NocUser = z.infer<typeof nocUser>;

export const uiLanguage = z.enum(['en', 'ar', 'fa', 'zh']);
export type UiLanguage = z.infer<typeof uiLanguage>;

// ---- auth -------------------------------------------------------------------------------------

export const loginRequest = z.object({ username: userName, password: z.string().min(1).max(200) });
export type LoginRequest = z.infer<typeof loginRequest>;

/** Answer of POST /api/login and GET /api/me. Send `csrfToken` as `X-CSRF-Token` on every POST made with the session cookie. */
export const sessionInfo = z.object({ user: nocUser, csrfToken: z.string() });
export type SessionInfo = z.infer<typeof sessionInfo>;

export const createUserRequest = z.object({ name: userName, role: nocRole, password });
export const apiTokenRequest = z.object({ name: z.string().min(1).max(64) });

// ---- errors -----------------------------------------------------------------------------------

/** Every 4xx/5xx answer. `message` names the field and the reason: `query.from: expected a number`. */
export const apiError = z.object({ error: z.string(), message: z.string() });
export type ApiError = z.infer<typeof apiError>;

// ---- live updates (GET /api/live, server-sent events; the SSE `event:` is `type`) -------------

export const liveEvent = z.discriminatedUnion('type', [
  /** A device went online or offline. */
  z.object({ type: z.literal('device'), device: z.string(), online: z.boolean(), reason: z.string(), at: z.number() }),
  /** A peripheral's health or active faults changed. */
  z.object({ type: z.literal('health'), device: z.string(), peripheral: z.string(), health: z.string(), faults: z.array(z.string()), at: z.number() }),
  /** A ticket was created or changed (status, SLA, comment). */
  z.object({ type: z.literal('ticket'), ref: z.string(), key: z.string(), device: z.string(), status: z.string(), priority: z.string(), change: z.enum(['created', 'updated']), at: z.number() }),
  /** A remote command finished (or expired). */
  z.object({ type: z.literal('command'), id: z.string(), device: z.string(), status: z.string(), at: z.number() }),
]);
export type LiveEvent = z.infer<typeof liveEvent>;

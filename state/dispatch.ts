// The dispatch state seam: teams, technicians and operators' known-fix texts (dispatch/). The
// assignment itself is a ticket field (collector/tickets/model.ts), so it commits with the ticket
// change that records it and reaches every sink. SQLite: state/sqlite/dispatch.ts (incidents.db,
// beside the tickets). All async so a PostgreSQL implementation fits.
import type { KnownFixEdit, KnownFixEditInput, Team, Technician } from '../dispatch/model.js';
import { FleetcareError } from '../protocol/errors.js';

export type { KnownFixEdit, Team, Technician };

/** Refusals: `code` maps to HTTP (not-found 404, exists 409, bad-request 400). */
export class DispatchStateError extends FleetcareError<'not-found' | 'exists' | 'bad-request'> {
  override name = 'DispatchStateError';
}

export interface DispatchStateStore {
  /** Adds or, with `replace`, changes a team; DispatchStateError 'exists' otherwise. */
  putTeam(team: Team, opts?: { replace?: boolean }): Promise<void>;
  /** Removes a team without technicians; 'bad-request' while it has some. */
  removeTeam(id: string): Promise<boolean>;
  teams(): Promise<Team[]>;
  /** Adds or, with `replace`, changes a technician; its team must exist ('not-found'). */
  putTechnician(t: Technician, opts?: { replace?: boolean }): Promise<void>;
  removeTechnician(id: string): Promise<boolean>;
  technicians(): Promise<Technician[]>;
  /** Known-fix texts written by operators, keyed by dispatch/model.ts knownFixId. */
  putKnownFixEdit(edit: KnownFixEditInput, by: string, at: number): Promise<void>;
  knownFixEdits(): Promise<Array<KnownFixEdit & { by: string; at: number }>>;
  close(): Promise<void>;
}

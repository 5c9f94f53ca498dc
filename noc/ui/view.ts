// What a page of the app is: mounted into <main>, re-rendered from its data when the language
// changes (no refetch), refreshed by the wall screen's timer, destroyed when the route changes.
import type { NocUser } from '../api.js';

export type Session = { user: NocUser /** Operators and admins run commands and ticket actions. */; canOperate: boolean };

export interface View {
  mount(root: HTMLElement): void;
  /** Draws again from the data it has (language switch). */
  render(): void;
  /** Fetches again (wall-screen auto-refresh, live reconnect). */
  refresh(): void;
  destroy(): void;
}

export type ViewFactory = (session: Session, params: string[], query: URLSearchParams) => View;

/** Navigates inside the app (set by main.ts; views call it for programmatic moves). */
export let navigate: (path: string, opts?: { replace?: boolean }) => void = (path) => location.assign(path);
export function setNavigate(f: typeof navigate): void {
  navigate = f;
}

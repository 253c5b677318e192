import type { SessionResponse } from '@edgeloop/contracts';
import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import { roleAllows } from './api';
import { navigate } from './router';

export const SessionContext = createContext<SessionResponse | undefined>(undefined);

export function useSession(): SessionResponse | undefined {
  return useContext(SessionContext);
}

/** Whether the signed-in role reaches `need` (the API enforces the same; this only hides what would be refused). */
export function useCan(need: SessionResponse['role']): boolean {
  return roleAllows(useSession()?.role, need);
}

let onExpired: (() => void) | undefined;

export function setSessionExpiredHandler(handler: () => void): void {
  onExpired = handler;
}

/** An API answer said 401: forget the session and go to sign-in, coming back here afterwards. */
export function sessionExpired(): void {
  onExpired?.();
  if (window.location.pathname !== '/sign-in') {
    navigate(`/sign-in?expired=1&next=${encodeURIComponent(window.location.pathname + window.location.search)}`, { replace: true });
  }
}

import type { DomainEventType } from '@edgeloop/contracts';
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { describeError, isUnauthorized } from './api';
import { useLiveEvents } from './live';
import { sessionExpired } from './session';

export interface Resource<T> {
  data: T | undefined;
  error: string | undefined;
  loading: boolean;
  reload(): void;
}

/**
 * Loads `fetcher()` when `key` changes and again (quietly, keeping what is shown) when one of the live
 * event types arrives. A 401 means the session ended: the app goes back to sign-in.
 */
export function useResource<T>(fetcher: () => Promise<T>, key: string, liveTypes: readonly DomainEventType[] = []): Resource<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const fetcherRef = useRef(fetcher);
  fetcherRef.current = fetcher;

  const load = useCallback((quiet: boolean) => {
    const mine = ++generation.current;
    if (!quiet) setLoading(true);
    fetcherRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(undefined);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        if (isUnauthorized(err)) sessionExpired();
        setError(describeError(err));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    setData(undefined);
    load(false);
  }, [key]);

  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useLiveEvents(liveTypes, () => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => load(true), 150);
  });
  useEffect(() => () => clearTimeout(timer.current), []);

  return { data, error, loading, reload: () => load(true) };
}

/** Runs a write; returns its error text (the API's message) or undefined, and sends a 401 back to sign-in. */
export async function attempt(write: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await write();
    return undefined;
  } catch (err) {
    if (isUnauthorized(err)) sessionExpired();
    return describeError(err);
  }
}

import type { SessionResponse } from '@edgeloop/contracts';
import { useEffect, useState } from 'preact/hooks';
import { api, describeError } from '../api';
import { ErrorBox } from '../components/ui';
import { navigate, type Location } from '../router';

/** Sign in with an API token (exchanged for an HttpOnly session cookie), or by a one-time link's code. */
export function SignInPage({ location, onSignedIn }: { location: Location; onSignedIn: (session: SessionResponse) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  const code = location.query.get('code');
  const next = safeNext(location.query.get('next'));

  async function open(body: { token: string } | { code: string }) {
    setBusy(true);
    setError(undefined);
    try {
      const session = await api.openSession(body);
      onSignedIn(session);
      navigate(next, { replace: true });
    } catch (err) {
      setError(describeError(err));
    } finally {
      setBusy(false);
    }
  }

  useEffect(() => {
    if (code) void open({ code });
  }, [code]);

  return (
    <main class="sign-in" id="main">
      <h1>Sign in to edgeloop</h1>
      {location.query.get('expired') ? (
        <p class="state warn" role="status">
          Your session has ended. Sign in again to go on.
        </p>
      ) : null}
      {code && !error ? <p role="status">Signing you in with the link…</p> : null}
      {error ? <ErrorBox message={error} /> : null}
      <form
        onSubmit={(e) => {
          e.preventDefault();
          if (token.trim()) void open({ token: token.trim() });
        }}
      >
        <label for="token">API token</label>
        <input
          id="token"
          name="token"
          type="password"
          autoComplete="off"
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          required
        />
        <p class="hint">The token is sent once and exchanged for a session cookie; it is not stored in the browser.</p>
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </main>
  );
}

/** Only a path of this site (never another origin) is a place to go back to. */
function safeNext(next: string | null): string {
  return next && next.startsWith('/') && !next.startsWith('//') && !next.startsWith('/sign-in') ? next : '/';
}

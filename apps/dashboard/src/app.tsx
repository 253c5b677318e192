import type { SessionResponse } from '@edgeloop/contracts';
import type { ComponentType } from 'preact';
import { useEffect, useErrorBoundary, useState } from 'preact/hooks';
import { api, describeError, isUnauthorized } from './api';
import { ErrorBox, Loading } from './components/ui';
import { live, useLiveStatus } from './live';
import { navigate, onLinkClick, useLocation, type Location } from './router';
import { SessionContext, setSessionExpiredHandler } from './session';
import { SignInPage } from './pages/sign-in';

type PageModule = { default: ComponentType<{ location: Location; params: string[] }> };

interface Route {
  pattern: RegExp;
  title: string;
  nav?: string;
  load: () => Promise<PageModule>;
  admin?: boolean;
}

/** Every page is its own chunk: the first page loads only what it shows. */
const routes: Route[] = [
  { pattern: /^\/$/, title: 'Overview', nav: '/', load: () => import('./pages/overview') },
  { pattern: /^\/devices\/([^/]+)$/, title: 'Device', load: () => import('./pages/device') },
  { pattern: /^\/devices$/, title: 'Devices', nav: '/devices', load: () => import('./pages/devices') },
  { pattern: /^\/models$/, title: 'Models', nav: '/models', load: () => import('./pages/models') },
  { pattern: /^\/deployments\/([^/]+)$/, title: 'Deployment', load: () => import('./pages/deployment') },
  { pattern: /^\/deployments$/, title: 'Deployments', nav: '/deployments', load: () => import('./pages/deployments') },
  { pattern: /^\/drift$/, title: 'Drift', nav: '/drift', load: () => import('./pages/drift') },
  { pattern: /^\/hard-examples$/, title: 'Hard examples', nav: '/hard-examples', load: () => import('./pages/hard-examples') },
  { pattern: /^\/identities\/([^/]+)$/, title: 'Identity', load: () => import('./pages/identity') },
  { pattern: /^\/identities$/, title: 'Identities', nav: '/identities', load: () => import('./pages/identities') },
  { pattern: /^\/retraining\/([^/]+)$/, title: 'Retraining run', load: () => import('./pages/retraining-run') },
  { pattern: /^\/retraining$/, title: 'Retraining', nav: '/retraining', load: () => import('./pages/retraining') },
  { pattern: /^\/webhooks$/, title: 'Webhooks', nav: '/webhooks', load: () => import('./pages/webhooks') },
  { pattern: /^\/queues$/, title: 'Queues', nav: '/queues', load: () => import('./pages/queues'), admin: true },
];

function match(path: string): { route: Route; params: string[] } | undefined {
  for (const route of routes) {
    const m = route.pattern.exec(path);
    if (m) return { route, params: m.slice(1).map(decodeURIComponent) };
  }
  return undefined;
}

export function App() {
  const location = useLocation();
  const [session, setSession] = useState<SessionResponse | null | undefined>(undefined);
  const [sessionError, setSessionError] = useState<string | undefined>();

  useEffect(() => {
    setSessionExpiredHandler(() => {
      live.stop();
      setSession(null);
    });
    api.me().then(setSession, (err: unknown) => {
      if (isUnauthorized(err)) setSession(null);
      else setSessionError(describeError(err));
    });
  }, []);

  useEffect(() => {
    if (session) live.start();
    else live.stop();
  }, [session]);

  useEffect(() => {
    if (session === null && location.path !== '/sign-in') {
      navigate(`/sign-in?next=${encodeURIComponent(location.path + window.location.search)}`, { replace: true });
    }
  }, [session, location.path]);

  if (sessionError) return <ErrorBox message={`cannot reach the cloud: ${sessionError}`} onRetry={() => window.location.reload()} />;
  if (location.path === '/sign-in' || session === null) {
    return <SignInPage location={location} onSignedIn={(s) => setSession(s)} />;
  }
  if (session === undefined) return <Loading what="your session" />;
  return (
    <SessionContext.Provider value={session}>
      <Shell location={location} session={session} onSignedOut={() => setSession(null)} />
    </SessionContext.Provider>
  );
}

function Shell({ location, session, onSignedOut }: { location: Location; session: SessionResponse; onSignedOut: () => void }) {
  const found = match(location.path);
  const status = useLiveStatus();
  useEffect(() => {
    document.title = `${found?.route.title ?? 'Not found'} · edgeloop`;
  }, [found?.route.title]);

  async function signOut() {
    await api.closeSession().catch(() => undefined);
    live.stop();
    onSignedOut();
    navigate('/sign-in', { replace: true });
  }

  return (
    <div class="layout" onClick={onLinkClick}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href="/">
          edgeloop
        </a>
        <span class={`live ${status}`} role="status" aria-live="polite" data-live={status}>
          {status === 'live' ? 'Live' : status === 'connecting' ? 'Reconnecting…' : 'Not live — updates paused'}
        </span>
        <span class="who">
          {session.name} <span class="badge muted">{session.role}</span>
        </span>
        <button type="button" class="link" onClick={signOut}>
          Sign out
        </button>
      </header>
      <nav class="side" aria-label="Pages">
        <ul>
          {routes
            .filter((r) => r.nav && (!r.admin || session.role === 'admin'))
            .map((r) => {
              const active = r.nav === '/' ? location.path === '/' : location.path.startsWith(r.nav!);
              return (
                <li key={r.nav}>
                  <a href={r.nav} aria-current={active ? 'page' : undefined}>
                    {r.title}
                  </a>
                </li>
              );
            })}
        </ul>
      </nav>
      <main id="main" tabIndex={-1}>
        {found ? <LazyPage key={found.route.title} route={found.route} location={location} params={found.params} /> : <NotFound />}
      </main>
    </div>
  );
}

function NotFound() {
  return (
    <>
      <h1>Not found</h1>
      <p>
        There is no page here. <a href="/">Go to the overview</a>.
      </p>
    </>
  );
}

const loaded = new Map<Route, PageModule>();

function LazyPage({ route, location, params }: { route: Route; location: Location; params: string[] }) {
  const [page, setPage] = useState<PageModule | undefined>(loaded.get(route));
  const [error, setError] = useState<string | undefined>();
  const [crash, resetCrash] = useErrorBoundary();
  useEffect(() => {
    if (page) return;
    route.load().then(
      (mod) => {
        loaded.set(route, mod);
        setPage(mod);
      },
      (err: unknown) => setError(describeError(err)),
    );
  }, [route]);
  if (error) return <ErrorBox message={`this page did not load: ${error}`} onRetry={() => window.location.reload()} />;
  if (crash) return <ErrorBox message={`this page failed to show: ${describeError(crash)}`} onRetry={resetCrash} />;
  if (!page) return <Loading what={route.title.toLowerCase()} />;
  const Page = page.default;
  return <Page location={location} params={params} />;
}

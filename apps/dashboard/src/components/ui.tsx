import type { ComponentChildren } from 'preact';
import type { Resource } from '../resource';

export function Loading({ what }: { what: string }) {
  return (
    <p class="state loading" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

export function ErrorBox({ message, onRetry }: { message: string; onRetry?: () => void }) {
  return (
    <div class="state error" role="alert">
      <strong>Error:</strong> {message}
      {onRetry ? (
        <button type="button" class="link" onClick={onRetry}>
          Retry
        </button>
      ) : null}
    </div>
  );
}

export function Empty({ children }: { children: ComponentChildren }) {
  return <p class="state empty">{children}</p>;
}

/** Loading, error and empty states around a resource, then `children(data)`. */
export function Load<T>({
  resource,
  what,
  empty,
  isEmpty,
  children,
}: {
  resource: Resource<T>;
  what: string;
  empty?: ComponentChildren;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ComponentChildren;
}) {
  if (resource.error && resource.data === undefined) return <ErrorBox message={resource.error} onRetry={resource.reload} />;
  if (resource.data === undefined) return <Loading what={what} />;
  const isBlank = isEmpty ? isEmpty(resource.data) : Array.isArray(resource.data) && resource.data.length === 0;
  return (
    <>
      {resource.error ? <ErrorBox message={resource.error} onRetry={resource.reload} /> : null}
      {isBlank ? <Empty>{empty ?? `No ${what} yet.`}</Empty> : children(resource.data)}
    </>
  );
}

export function Badge({ tone, children }: { tone: 'ok' | 'warn' | 'bad' | 'info' | 'muted'; children: ComponentChildren }) {
  return <span class={`badge ${tone}`}>{children}</span>;
}

const toneOf: Record<string, 'ok' | 'warn' | 'bad' | 'info' | 'muted'> = {
  online: 'ok',
  active: 'ok',
  completed: 'ok',
  succeeded: 'ok',
  passed: 'ok',
  done: 'ok',
  offline: 'bad',
  failed: 'bad',
  rejected: 'bad',
  rolled_back: 'warn',
  rolling_back: 'warn',
  in_progress: 'info',
  running: 'info',
  sent: 'info',
  pending: 'muted',
  queued: 'muted',
  unknown: 'muted',
};

export function Status({ value }: { value: string }) {
  return <Badge tone={toneOf[value] ?? 'muted'}>{value.replace(/_/g, ' ')}</Badge>;
}

export function Time({ at }: { at: string | null | undefined }) {
  if (!at) return <span class="muted">—</span>;
  const date = new Date(at);
  const seconds = Math.round((Date.now() - date.getTime()) / 1000);
  const ago =
    seconds < 60
      ? `${Math.max(seconds, 0)} s ago`
      : seconds < 3600
        ? `${Math.round(seconds / 60)} min ago`
        : seconds < 86_400
          ? `${Math.round(seconds / 3600)} h ago`
          : date.toLocaleDateString();
  return (
    <time dateTime={at} title={date.toLocaleString()}>
      {ago}
    </time>
  );
}

export function bytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 ** 2) return `${(size / 1024).toFixed(1)} KB`;
  return `${(size / 1024 ** 2).toFixed(1)} MB`;
}

export function Section({ title, children, actions }: { title: string; children: ComponentChildren; actions?: ComponentChildren }) {
  return (
    <section class="card" aria-label={title}>
      <header class="card-head">
        <h2>{title}</h2>
        {actions}
      </header>
      {children}
    </section>
  );
}

export function Progress({ value, label }: { value: number; label: string }) {
  const percent = Math.round(value * 100);
  return (
    <div class="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent}>
      <div class="bar" style={{ width: `${percent}%` }} />
      <span class="progress-text">{percent}%</span>
    </div>
  );
}

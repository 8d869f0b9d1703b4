import type { ComponentChildren } from 'preact';
import type { Live } from '../live.js';

/** An API error, said plainly where the data would be. */
export function ErrorNote({ error, what }: { error: string | undefined; what?: string }) {
  if (error === undefined) return null;
  return (
    <p role="alert" class="error">
      {what ? `${what}: ` : ''}
      {error}
    </p>
  );
}

const STATE_TEXT: Record<Live<unknown>['state'], string> = {
  connecting: 'connecting…',
  live: 'live',
  reconnecting: 'reconnecting…',
  failed: 'stopped',
};

/** Whether a view is live, and when it last changed. */
export function LiveState({ live }: { live: Live<unknown> }) {
  const at = live.updatedAt > 0 ? ` · ${new Date(live.updatedAt).toLocaleTimeString()}` : '';
  return (
    <small class={`live-state ${live.state}`} aria-live="off">
      {STATE_TEXT[live.state]}
      {at}
    </small>
  );
}

/** A titled part of a page fed by one live view; `data-updated-at` moves with each update. */
export function LiveSection(props: {
  id: string;
  title: string;
  live: Live<unknown>;
  extraError?: string | undefined;
  children: ComponentChildren;
}) {
  const { id, title, live, extraError, children } = props;
  return (
    <section id={id} aria-labelledby={`${id}-title`} data-updated-at={live.updatedAt} data-state={live.state}>
      <div class="section-head">
        <h2 id={`${id}-title`}>{title}</h2>
        <LiveState live={live} />
      </div>
      <ErrorNote error={live.error} />
      <ErrorNote error={extraError} />
      {live.data === undefined && live.error === undefined ? <p aria-busy="true">Loading…</p> : children}
    </section>
  );
}

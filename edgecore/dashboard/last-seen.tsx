import { relativeTime } from './format.js';

/** A time shown relative to now (`12 s ago`), exact in its tooltip; `never` when there is none. */
export function LastSeen({ at, now }: { at: number | undefined; now: number }) {
  if (at === undefined) return <time title="never online">never</time>;
  const when = new Date(at);
  return (
    <time dateTime={when.toISOString()} title={when.toLocaleString()}>
      {relativeTime(at, now)}
    </time>
  );
}

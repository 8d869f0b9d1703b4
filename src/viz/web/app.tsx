import { useEffect } from 'preact/hooks';
import { useFetch } from './live.js';
import { NamespacePage } from './pages/namespace.js';
import { Overview } from './pages/overview.js';
import { TapPage } from './pages/tap.js';
import { WorkloadPage } from './pages/workload.js';
import { paths, type Route, useRoute } from './router.js';

interface Info {
  readonly metrics: string;
  readonly tap: boolean;
  readonly maxWindowMs: number;
}

function title(route: Route): string {
  switch (route.page) {
    case 'overview':
      return 'Overview';
    case 'namespace':
      return `${route.namespace} (namespace)`;
    case 'workload':
      return `${route.name} (deployment in ${route.namespace})`;
    case 'tap':
      return 'Tap';
    default:
      return 'Not found';
  }
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case 'overview':
      return <Overview />;
    case 'namespace':
      return <NamespacePage key={route.namespace} namespace={route.namespace} />;
    case 'workload':
      return (
        <WorkloadPage
          key={`${route.namespace}/${route.name}`}
          namespace={route.namespace}
          name={route.name}
        />
      );
    case 'tap':
      return <TapPage query={route.query} />;
    default:
      return (
        <>
          <h1>Not found</h1>
          <p role="alert">
            There is no page at <code>{route.path}</code>. <a href={paths.overview()}>Go to the overview.</a>
          </p>
        </>
      );
  }
}

export function App() {
  const route = useRoute();
  const info = useFetch<Info>('/api/info');
  const namespaces = useFetch<{ namespaces: string[] }>('/api/namespaces');
  useEffect(() => {
    document.title = `${title(route)} · Weft`;
  }, [route]);
  const current = route.page === 'namespace' || route.page === 'workload' ? route.namespace : undefined;
  return (
    <>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="container-fluid">
        <nav aria-label="Main">
          <ul>
            <li>
              <a href={paths.overview()} class="brand" aria-label="Weft: overview">
                Weft
              </a>
            </li>
          </ul>
          <ul>
            <li>
              <a href={paths.overview()} aria-current={route.page === 'overview' ? 'page' : undefined}>
                Overview
              </a>
            </li>
            {(namespaces.data?.namespaces ?? []).map((ns) => (
              <li key={ns}>
                <a href={paths.namespace(ns)} aria-current={current === ns ? 'page' : undefined}>
                  {ns}
                </a>
              </li>
            ))}
            <li>
              <a href={paths.tap()} aria-current={route.page === 'tap' ? 'page' : undefined}>
                Tap
              </a>
            </li>
          </ul>
        </nav>
      </header>
      <main id="main" class="container-fluid">
        {info.error ? (
          <p role="alert" class="error">
            The dashboard's API does not answer: {info.error}
          </p>
        ) : null}
        {info.data && !info.data.tap && route.page === 'tap' ? (
          <p role="alert" class="error">
            Tap is not available on this control plane.
          </p>
        ) : null}
        <Page route={route} />
      </main>
      <footer class="container-fluid">
        <small>
          Metrics: {info.data?.metrics ?? '…'} · windows of one minute, updated every few seconds ·{' '}
          <code>weft viz stat</code> shows the same numbers.
        </small>
      </footer>
    </>
  );
}

import { paths } from '../router.js';

/** Where a page sits: Overview › namespace › deployment, each level above this page a link. */
export function Breadcrumb({ namespace, deployment }: { namespace: string; deployment?: string }) {
  return (
    <nav aria-label="breadcrumb">
      <ul>
        <li>
          <a href={paths.overview()}>Overview</a>
        </li>
        <li>{deployment === undefined ? namespace : <a href={paths.namespace(namespace)}>{namespace}</a>}</li>
        {deployment === undefined ? null : <li>{deployment}</li>}
      </ul>
    </nav>
  );
}

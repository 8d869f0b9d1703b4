/** Bad input: an error naming the file, the document (and item) and what is wrong; nothing is produced. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InjectError } from '../../src/inject/errors.js';
import { type InjectOptions, injectText } from '../../src/inject/inject.js';
import { uninjectText } from '../../src/inject/uninject.js';

const OPTS: InjectOptions = {
  proxyImage: 'ghcr.io/weft-mesh/weft',
  proxyVersion: '0.1.0',
  cliVersion: '0.1.0',
  nativeSidecar: false,
};

const refused = (text: string, message: RegExp, run = (t: string) => injectText(t, 'app.yaml', OPTS)) =>
  assert.throws(
    () => run(text),
    (err: unknown) => {
      assert.ok(err instanceof InjectError, String(err));
      assert.match(err.message, message);
      return true;
    },
  );

const deployment = (podSpec: string, templateMeta = '      labels: {app: web}\n', meta = '  name: web\n') =>
  `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n${meta}spec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata:\n${templateMeta}    spec:\n${podSpec}`;
const containers = '      containers:\n      - name: app\n        image: nginx\n';

test('not YAML: the file, the document and the line', () => {
  refused('kind: Pod\nmetadata: [a, b\n', /^app\.yaml: line \d+, column \d+: not valid YAML: /);
  refused(
    `kind: Service\n---\n${deployment(containers)}  bad: [\n`,
    /^app\.yaml, document 2: line \d+, column \d+: not valid YAML/,
  );
  refused('kind: Pod\nkind: Pod\n', /^app\.yaml: line 2, column 1: not valid YAML: Map keys must be unique/);
  refused('\t- x\n', /^app\.yaml: .*not valid YAML/, (t) => uninjectText(t, 'app.yaml'));
});

test('not a resource: a list, a scalar, a mapping without kind', () => {
  refused('- a\n- b\n', /^app\.yaml: not a Kubernetes resource: the document is a list, not a mapping$/);
  refused(
    '---\nkind: Service\n---\nhello\n',
    /^app\.yaml, document 2: not a Kubernetes resource: the document is a scalar/,
  );
  refused('replicas: 3\n', /^app\.yaml: not a Kubernetes resource: it has no kind$/);
  refused('kind: List\nitems: {a: b}\n', /^app\.yaml: the List's items are not a list$/);
  refused(
    'kind: List\nitems:\n- kind: Service\n- just text\n',
    /^app\.yaml, item 2: not a Kubernetes resource/,
  );
});

test('a workload without what a workload needs', () => {
  refused(
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n',
    /^app\.yaml \(deployment "web"\): spec\.template is missing$/,
  );
  refused(
    'kind: CronJob\nmetadata: {name: r}\nspec:\n  jobTemplate: 3\n',
    /\(cronjob "r"\): spec\.jobTemplate is not a mapping$/,
  );
  refused(
    deployment('      hostname: x\n'),
    /\(deployment "web"\): spec\.template\.spec\.containers is missing$/,
  );
  refused(deployment('      containers: []\n'), /spec\.template\.spec\.containers is empty$/);
  refused(
    deployment(`${containers}      initContainers: {name: x}\n`),
    /spec\.template\.spec\.initContainers is not a list$/,
  );
  refused(
    deployment('      containers:\n      - just-a-name\n'),
    /spec\.template\.spec\.containers\[0\] is not a mapping$/,
  );
  refused(
    deployment(containers, '      labels: {app: web}\n', '  namespace: x\n'),
    /\(deployment "<unnamed>"\): metadata\.name is missing$/,
  );
  refused('kind: Pod\nmetadata: {name: p}\nspec: [a]\n', /\(pod "p"\): spec is not a mapping$/);
  refused(
    'kind: List\nitems:\n- kind: Pod\n  metadata: {name: a}\n  spec:\n    containers: &c\n    - {name: app, image: x}\n- kind: Pod\n  metadata: {name: b}\n  spec:\n    containers: *c\n',
    /^app\.yaml, item 2 \(pod "b"\): spec\.containers is a YAML alias \(\*c\): write the list out to inject it$/,
  );
});

test('a bad annotation: the resource and the annotation', () => {
  refused(
    `kind: Service\n---\n${deployment(containers, '      annotations:\n        config.weft.io/skip-inbound-ports: "22,70000"\n')}`,
    /^app\.yaml, document 2 \(deployment "web"\): config\.weft\.io\/skip-inbound-ports: "70000" is not a port/,
  );
  refused(
    deployment(
      containers,
      '      labels: {app: web}\n',
      '  name: web\n  annotations:\n    config.weft.io/proxy-log-level: loud\n',
    ),
    /\(deployment "web"\): config\.weft\.io\/proxy-log-level: "loud" is not a log level/,
  );
  refused(
    `kind: List\nitems:\n- ${deployment(
      containers,
      '      annotations: {config.weft.io/proxy-memory-limit: lots}\n',
    )
      .split('\n')
      .join('\n  ')}`,
    /^app\.yaml, item 1 \(deployment "web"\): config\.weft\.io\/proxy-memory-limit: "lots" is not a Kubernetes quantity/,
  );
});

test("a bad value of Linkerd's annotation is named as written, not as its weft.io equivalent", () => {
  const linkerd = (annotations: string) => deployment(containers, `      annotations: {${annotations}}\n`);
  refused(
    linkerd('config.linkerd.io/proxy-uid: "0"'),
    /^app\.yaml \(deployment "web"\): config\.linkerd\.io\/proxy-uid: "0" is not a user ID/,
  );
  refused(
    linkerd('config.linkerd.io/opaque-ports: "3306,mysql"'),
    /\(deployment "web"\): config\.linkerd\.io\/opaque-ports: "mysql" is not a port/,
  );
  refused(
    linkerd('config.linkerd.io/proxy-cpu-request: "2", config.weft.io/proxy-cpu-limit: "1"'),
    /\(deployment "web"\): config\.linkerd\.io\/proxy-cpu-request: "2" is more than config\.weft\.io\/proxy-cpu-limit \("1"\)$/,
  );
  refused(
    linkerd('config.linkerd.io/proxy-log-level: "warn,linkerd=info"'),
    /\(deployment "web"\): config\.linkerd\.io\/proxy-log-level: "warn,linkerd=info" is not a log level/,
  );
  // Weft's own value wins and is the one checked: a bad Linkerd value beside it is not read.
  assert.deepEqual(
    injectText(
      linkerd('config.weft.io/proxy-uid: "2200", config.linkerd.io/proxy-uid: "0"'),
      'app.yaml',
      OPTS,
    ).reports,
    [
      'deployment "web" injected',
      'warning: deployment "web": config.weft.io/proxy-uid is "2200" and config.linkerd.io/proxy-uid "0"; config.weft.io/proxy-uid wins',
    ],
  );
});

test('a skipped workload is not checked: there is nothing to inject', () => {
  const text = deployment(
    `      hostNetwork: true\n${containers}`,
    '      annotations: {config.weft.io/proxy-uid: "0"}\n',
  );
  assert.deepEqual(injectText(text, 'app.yaml', OPTS).reports, [
    'deployment "web" skipped (hostNetwork: true)',
  ]);
});

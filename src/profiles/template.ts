import { PROFILE_API_VERSION, type ProfileTarget, profileName } from './document.js';

/**
 * A commented starting point for a profile, as `linkerd profile --template` prints: one
 * example route, and the other fields commented out. What is not commented out is itself
 * a valid profile; each commented block is valid YAML once its `# ` is removed.
 */
export function renderTemplate(target: ProfileTarget): string {
  return `### ServiceProfile for ${target.name}.${target.namespace} ###
apiVersion: ${PROFILE_API_VERSION}
kind: ServiceProfile
metadata:
  name: ${profileName(target)}
  namespace: ${target.namespace}
spec:
  # A profile lists the routes of its Service. Requests are counted per route,
  # and a route can say which responses are failures, whether its requests may
  # be retried, and how long they may take.
  routes:
  - name: '/authors/{id}'

    # Every route has a condition: the requests that match it belong to the
    # route. A request that matches several routes belongs to the first.
    condition:
      # A regular expression the whole path must match (the query string is
      # not part of the path).
      pathRegex: '/authors/\\d+'

      # The request's method.
      method: POST

      # When a condition sets several fields, all of them must match. The
      # same condition, written with 'all':
      # all:
      # - pathRegex: '/authors/\\d+'
      # - method: POST

      # Conditions combine with 'all', 'any' and 'not':
      # any:
      # - all:
      #   - method: POST
      #   - pathRegex: '/authors/\\d+'
      # - all:
      #   - not:
      #       method: DELETE
      #   - pathRegex: /info\\.txt

    # Response classes say which of the route's responses are failures. The
    # first class whose condition matches a response classifies it.
    responseClasses:
    - condition:
        # A range of status codes (min and max included).
        status:
          min: 500
          max: 599

        # With only min, or only max, the range is open on the other side.
        # status:
        #   min: 400

        # Conditions combine with 'all', 'any' and 'not':
        # all:
        # - status:
        #     min: 500
        #     max: 599
        # - not:
        #     status:
        #       min: 503
        #       max: 503

      # Whether the responses of this class count as failures.
      isFailure: true

    # A retryable route's failed requests may be retried by the proxy. Mark only
    # routes whose requests are safe to repeat.
    # isRetryable: true

    # The longest a request to this route may take, retries included.
    # timeout: 250ms

  # A retry budget limits the retries sent to this Service, as a share of the
  # original requests. These are the defaults:
  # retryBudget:
  #   retryRatio: 0.2          # retries add at most 20% to the requests
  #   minRetriesPerSecond: 10  # retries allowed on top, for when traffic is low
  #   ttl: 10s                 # the window the ratio is computed over

  # Destination overrides send shares of this Service's traffic to other
  # authorities; here a canary gets a tenth. Weights are relative, written as
  # Kubernetes quantities.
  # dstOverrides:
  # - authority: ${target.name}.${target.namespace}.svc.${target.clusterDomain}
  #   weight: 900m
  # - authority: ${target.name}-v2.${target.namespace}.svc.${target.clusterDomain}
  #   weight: 100m
`;
}
